"""The evaluation report: a TFMA output read into plain Python, rendered as one HTML page."""
