"""Events to the app's webhook: a persisted outbox, WaGo's form format, signatures and retries."""
