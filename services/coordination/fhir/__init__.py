"""FHIR R4: a patient's care as a Bundle and a clinic's as a Bulk Data export, built from what
coordination has projected."""
