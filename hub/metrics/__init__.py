"""City figures: relocalised production computed from the hub's job records.

Every figure is a sum over completed jobs (parts and kilograms made locally, transport
avoided, local labour hours), per district, month or lab, and states how it was computed.
- `service`: `city_report(...)` and the figures' formulas, from job records;
- `config`: the assumptions behind the figures (environment prefix `COFAB_CITY_`);
- `export`: open-data CSV tables and GeoJSON (labs, maker-to-lab flows);
- `schemas`: API shapes; `views`: `/api/v1/metrics`, for the city and admin roles.
"""
