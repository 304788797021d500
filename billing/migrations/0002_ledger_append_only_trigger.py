"""The ledger is append-only in the database too: a trigger refuses UPDATE and DELETE of
billing_ledgerentry rows whoever sends them (raw SQL, another program, a careless migration).

The one exception is ``billing.services.ledger_purge_tenant``, used when a whole tenant is deleted
(the demo's reset): it names the tenant in the transaction-local setting
``billing.ledger_purge_tenant`` and may then delete that tenant's rows, and only those.
TRUNCATE is not guarded (test databases are flushed with it). SQLite, the development default,
has no trigger; the model refuses changes there.
"""

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

CREATE = """
CREATE OR REPLACE FUNCTION billing_ledger_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE'
       AND current_setting('billing.ledger_purge_tenant', true) = OLD.tenant_id::text THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'billing_ledgerentry is append-only: % refused', TG_OP
        USING ERRCODE = 'integrity_constraint_violation',
              HINT = 'Add a correcting entry instead.';
END;
$$;
CREATE TRIGGER billing_ledger_append_only
    BEFORE UPDATE OR DELETE ON billing_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION billing_ledger_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS billing_ledger_append_only ON billing_ledgerentry;
DROP FUNCTION IF EXISTS billing_ledger_append_only();
"""


def create_trigger(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        # params=None: the SQL holds a literal % (RAISE's placeholder), not a query parameter.
        schema_editor.execute(CREATE, params=None)


def drop_trigger(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]

    operations = [migrations.RunPython(create_trigger, drop_trigger)]
