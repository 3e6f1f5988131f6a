"""Tables of the signup kind."""
