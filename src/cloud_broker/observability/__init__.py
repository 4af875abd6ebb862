"""What ``serve`` tells an operator about itself: Prometheus metrics, and the wrappers that
feed them from the store, the providers and the families without the service knowing."""
