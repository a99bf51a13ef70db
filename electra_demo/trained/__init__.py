"""Visitors' trained models: the kinds table (:mod:`.kinds`: prefixes, tasks, where each kind
serves, the id rules), the store that keeps them (:mod:`.store`) and the one check every path
runs on a model it is given (:mod:`.require`)."""
