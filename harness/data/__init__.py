"""Data: BridgeData V2 reading, episode decomposition and annotation into D_lan, prompt templates."""
