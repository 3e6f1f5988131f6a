"""Tables of the lottery kind."""
