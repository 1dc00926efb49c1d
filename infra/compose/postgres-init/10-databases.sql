-- The databases of the platform PostgreSQL's other clients, created on its first start (an
-- empty data volume) by the postgres image's entrypoint, as POSTGRES_USER (their owner).
-- POSTGRES_DB (dpp) is the backend's. `lint` (compose/comes-up) checks that every database a
-- compose service connects to is created here or by POSTGRES_DB.
CREATE DATABASE keycloak;
CREATE DATABASE edc;
