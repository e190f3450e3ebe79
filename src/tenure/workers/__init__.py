"""Background work: the due-work scheduler, payment recovery and the outbox sequencer."""
