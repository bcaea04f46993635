"""Points in polygons, exactly and fast: H3 covers of polygons, a cell index that answers most
points at once, zone reference tables and a self-contained choropleth map.

Generic: polygons are "zones" with an id, a name and a group; nothing here names a use case.
"""
