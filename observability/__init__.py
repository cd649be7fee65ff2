"""What the running API tells its operators: metrics (`metrics.py`, scraped through
`exposition.py`). A layer below the database, so that every layer can count."""
