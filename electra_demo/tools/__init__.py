"""Command-line tools beside the app: small random checkpoints for offline runs and tests
(:mod:`.tiny`) and SQuAD 2.0 evaluation of the reader (:mod:`.evaluate_qa`)."""
