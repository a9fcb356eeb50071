// Who is told what: callback endpoints (machines) and notification channels (people).
import { useEffect, useState } from "react";
import { api, ok } from "../api/client";
import type { Session } from "../session";
import { useLoad } from "../hooks";
import { Callbacks } from "./Callbacks";
import { Channels } from "./Channels";

export function Outbound({ session }: { session: Session }) {
  const own = session.who.tenant_id;
  const tenants = useLoad(() => own ? Promise.resolve([]) : ok(api.GET("/api/v1/tenants")),
    [own]);
  const [tenantId, setTenantId] = useState(own);
  useEffect(() => {
    if (!tenantId && tenants.data?.length) setTenantId(tenants.data[0].id);
  }, [tenants.data, tenantId]);
  return (
    <section>
      <div className="spread">
        <h1>Callbacks &amp; channels</h1>
        {!own && (
          <label className="row" style={{ margin: 0 }}>Tenant
            <select value={tenantId} onChange={(e) => setTenantId(e.target.value)}
              data-testid="tenant-select">
              {(tenants.data ?? []).map((t) => <option key={t.id} value={t.id}>{t.name}</option>)}
            </select></label>)}
      </div>
      <Callbacks session={session} tenantId={tenantId} />
      {tenantId && <Channels key={tenantId} session={session} tenantId={tenantId} />}
    </section>
  );
}
