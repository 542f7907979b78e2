"""The JSON API for headless storefronts (docs/integrating/headless.md).

The shop's server code issues a client secret for an order (``issue_client_secret``) and
hands it to its front end, which reads the order, pays it with a seToken and reads the
payment through the endpoints of ``checkout.api.views``.
"""

from checkout.api.secrets import issue_client_secret

__all__ = ["issue_client_secret"]
