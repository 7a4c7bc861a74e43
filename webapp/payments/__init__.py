"""Card payments: the gateway protocol, its Stripe implementation, error classes."""
