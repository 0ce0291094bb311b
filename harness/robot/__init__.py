"""Robot side: backends behind one interface, the safety envelope, trial protocols, operator console, trial log."""
