"""One module per page (its routes, each declaring the role it needs); `web.app` mounts them."""
