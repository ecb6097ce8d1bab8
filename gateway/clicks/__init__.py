"""Clicks: the offer catalogue (`catalog`), the offers cached for the click path (`offer_cache`), and a click
answered within its offer's wait budget (`click`)."""
