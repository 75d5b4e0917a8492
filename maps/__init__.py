"""The live map: a folium-built Leaflet page served from the app's own URL scheme, its live layers,
the tile store (MBTiles cache, imported packages, agency tile server) and the Qt widget around it.
Depends on nothing of ours but workstation.protocol and workstation.resources."""
