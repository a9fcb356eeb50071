"""HTTP plumbing both listeners share (the webhook edge and the operator API): problem
answers, the error middleware, header credentials, health answers, and serving an
application over a NATS connection that may be replaced."""
