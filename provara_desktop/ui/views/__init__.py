"""Qt views: the widgets the main window embeds."""
