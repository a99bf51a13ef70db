"""Visitors' trained models: the kinds table (:mod:`.kinds`: prefixes, tasks, where each kind
serves, the id rules) and the store that keeps them (:mod:`.store`)."""
