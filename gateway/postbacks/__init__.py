"""Postbacks: Trackier S2S postbacks received (`receiving`), routed to one pair by their secret (`routing`) and
turned into fresh sub-ids on that pair's outbound campaign (`updating`); the pairs themselves (`pair_setup`) and the
Trackier API client (`trackier_api`)."""
