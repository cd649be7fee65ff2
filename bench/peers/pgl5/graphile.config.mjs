// PostGraphile 5 for `make bench` (bench/run.sh): the Amber preset over the bench database's
// public schema, read-only through DATABASE_URL's `default_transaction_read_only`. Every column
// may be filtered and ordered on, indexed or not, as in PostGraphile 4 (its `ignoreIndexes`
// default): LeadSearch filters leads by `status`, which no index starts with.
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { makePgService } from "postgraphile/adaptors/pg";

export default {
  extends: [PostGraphileAmberPreset],
  disablePlugins: ["PgIndexBehaviorsPlugin"],
  pgServices: [makePgService({ connectionString: process.env.DATABASE_URL, schemas: ["public"] })],
  grafserv: { port: Number(process.env.PORT), host: "127.0.0.1" },
};
