-- Argo CD health check for graphorg.io kinds (TenantConnection, Organization,
-- MultiTenantOrganization, MultiTenantOrganizationMembership). The operator follows kstatus:
-- Stalled=True is a failure, Reconciling=True or a stale observedGeneration is progress,
-- Ready=True is healthy.
local hs = { status = "Progressing", message = "Waiting for the operator to reconcile" }
if obj.status == nil or obj.status.conditions == nil then
  return hs
end
local generation = obj.metadata and obj.metadata.generation
if generation ~= nil and obj.status.observedGeneration ~= generation then
  hs.message = "The operator has not yet seen the latest spec"
  return hs
end
local ready, stalled, reconciling
for _, c in ipairs(obj.status.conditions) do
  if c.type == "Ready" then ready = c end
  if c.type == "Stalled" then stalled = c end
  if c.type == "Reconciling" then reconciling = c end
end
if obj.metadata and obj.metadata.annotations and obj.metadata.annotations["graphorg.io/paused"] == "true" then
  hs.status = "Suspended"
  hs.message = "Paused by the graphorg.io/paused annotation"
  return hs
end
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = (stalled.reason or "Stalled") .. ": " .. (stalled.message or "")
  return hs
end
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message or ready.reason or "Ready"
  return hs
end
if reconciling ~= nil and reconciling.status == "True" then
  hs.message = (reconciling.reason or "Reconciling") .. ": " .. (reconciling.message or "")
elseif ready ~= nil then
  hs.message = (ready.reason or "NotReady") .. ": " .. (ready.message or "")
end
return hs
