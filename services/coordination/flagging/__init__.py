"""Risk flags in the service: the rules' findings reconciled with the stored flags, written with
their change log and their events in the projection's transaction; the periodic tick; the
acknowledgement; the reads."""
