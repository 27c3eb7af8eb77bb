"""Provider-side installation (``tmc install``) and tenant onboarding (``tmc bind``)."""
