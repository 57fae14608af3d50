"""Tables, plots and the HTML report, rendered from run directories' results files."""
