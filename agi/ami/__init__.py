"""AMI: Grenswacht's connection to the Asterisk Manager Interface (panoramisk underneath)."""
