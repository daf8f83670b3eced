"""Red partners (红色合伙人): offers, redemptions, volunteers' personal codes, reading QR photos."""
