"""Views of the member portal, one module per area: login, union spaces, the member's own page."""
