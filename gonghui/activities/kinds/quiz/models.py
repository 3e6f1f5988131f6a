"""Tables of the quiz kind."""
