-- An example course dataset: the database tm351_examples (made, owned by tm351), two tables from the CSV files
-- beside this file, and a view. Loaded once, as the tm351 login, in one transaction; psql runs in postgres/.
CREATE TABLE stations (
    station_id text PRIMARY KEY,
    town text NOT NULL,
    latitude numeric(7, 4) NOT NULL,
    longitude numeric(7, 4) NOT NULL,
    altitude_m integer
);
CREATE TABLE readings (
    station_id text NOT NULL REFERENCES stations,
    day date NOT NULL,
    max_temp_c numeric(4, 1),
    rain_mm numeric(5, 1),
    PRIMARY KEY (station_id, day)
);
\copy stations FROM 'tm351_examples/stations.csv' WITH (FORMAT csv, HEADER true)
\copy readings FROM 'tm351_examples/readings.csv' WITH (FORMAT csv, HEADER true)
CREATE VIEW weekly_summary AS
    SELECT s.town, avg(r.max_temp_c)::numeric(4, 1) AS mean_max_temp_c, sum(r.rain_mm) AS total_rain_mm
    FROM stations s JOIN readings r USING (station_id)
    GROUP BY s.town;
