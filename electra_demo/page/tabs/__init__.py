"""The page's tabs, one module each (``TAB``), and the plumbing they share (:mod:`.common`).

The page (:mod:`electra_demo.page.demo`) lists the tabs in order; :mod:`.status` is the model-status
panel above them.
"""
