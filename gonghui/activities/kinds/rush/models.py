"""Tables of the rush kind."""
