-- The application's schema, as its migrations would leave it.
CREATE TABLE IF NOT EXISTS items (id serial PRIMARY KEY, owner text NOT NULL);
