"""After-care: cool-down pauses, supervisor notification and the incident journal."""
