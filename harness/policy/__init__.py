"""Policies that drive a robot from images and an instruction, and validators that close the loop."""
