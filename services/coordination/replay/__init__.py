"""``carecoord replay``: coordination's read models rebuilt from the topics (offset 0) into a
scratch schema while the live ones keep serving, then swapped in; or one patient's history
replayed up to a moment and printed."""
