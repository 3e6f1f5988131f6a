"""Tables of the survey kind."""
