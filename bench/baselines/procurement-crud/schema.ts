/**
 * The CRUD baseline's one normalized schema: what a monolith would keep, read and written in place.
 * No event log, no read models: every query reads these tables, every command updates them.
 */
export const crudSchema = 'procurement_crud'

export const crudDdl = `
CREATE SCHEMA IF NOT EXISTS ${crudSchema};
CREATE TABLE IF NOT EXISTS ${crudSchema}.budgets (
  department text NOT NULL,
  fiscal_year integer NOT NULL,
  currency text NOT NULL,
  amount bigint NOT NULL CHECK (amount >= 0),
  reserved bigint NOT NULL DEFAULT 0 CHECK (reserved >= 0),
  committed bigint NOT NULL DEFAULT 0 CHECK (committed >= 0),
  spent bigint NOT NULL DEFAULT 0 CHECK (spent >= 0),
  CHECK (amount - reserved - committed - spent >= 0),
  PRIMARY KEY (department, fiscal_year)
);
CREATE TABLE IF NOT EXISTS ${crudSchema}.policy_tiers (
  position integer PRIMARY KEY,
  up_to bigint,
  roles text[] NOT NULL
);
CREATE TABLE IF NOT EXISTS ${crudSchema}.requests (
  request_id uuid PRIMARY KEY,
  requester_id text NOT NULL,
  department text NOT NULL,
  fiscal_year integer NOT NULL,
  currency text NOT NULL,
  title text NOT NULL,
  justification text,
  needed_by date,
  total bigint NOT NULL,
  status text NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  -- Each change adds one, as each event adds one to the CQRS request's stream (expectedVersion).
  version integer NOT NULL DEFAULT 1,
  approved_at timestamptz,
  closed_by text,
  close_reason text,
  previous_status text,
  paid_amount bigint,
  payment_reference text,
  FOREIGN KEY (department, fiscal_year) REFERENCES ${crudSchema}.budgets (department, fiscal_year)
);
CREATE TABLE IF NOT EXISTS ${crudSchema}.request_items (
  request_id uuid NOT NULL REFERENCES ${crudSchema}.requests ON DELETE CASCADE,
  line integer NOT NULL,
  description text NOT NULL,
  quantity bigint NOT NULL,
  unit_price bigint NOT NULL,
  PRIMARY KEY (request_id, line)
);
CREATE TABLE IF NOT EXISTS ${crudSchema}.request_steps (
  request_id uuid NOT NULL REFERENCES ${crudSchema}.requests ON DELETE CASCADE,
  step_index integer NOT NULL,
  role text NOT NULL,
  department text,
  approver_id text,
  acted_as text,
  comment text,
  decided_at timestamptz,
  PRIMARY KEY (request_id, step_index)
);
-- The list filters, on the tables the writes update: every index here is paid by every write.
CREATE INDEX IF NOT EXISTS requests_by_department_created
  ON ${crudSchema}.requests (department, created_at DESC, request_id DESC);
CREATE INDEX IF NOT EXISTS requests_by_department_total
  ON ${crudSchema}.requests (department, total DESC, request_id DESC);
CREATE INDEX IF NOT EXISTS requests_by_requester
  ON ${crudSchema}.requests (requester_id, created_at DESC, request_id DESC);
CREATE INDEX IF NOT EXISTS requests_pending
  ON ${crudSchema}.requests (status, created_at DESC) WHERE status = 'pending';
`
