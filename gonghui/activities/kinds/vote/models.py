"""Tables of the vote kind."""
