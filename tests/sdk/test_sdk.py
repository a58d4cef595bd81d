"""Microsoft's own Python libraries against the emulator (graph-api.md section 8).

Driven by tests/emulator_sdk.rs, which starts the emulator over HTTPS and passes:
  GRAPHORG_EMU_URL          https://127.0.0.1:PORT (authority and Graph root)
  GRAPHORG_TENANT_A/B       tenant ids
  GRAPHORG_CLIENT_ID/SECRET an app with a secret, granted in both tenants
  GRAPHORG_CERT_CLIENT_ID   an app with a registered certificate
  GRAPHORG_CERT_PEM         path to a PEM file with that certificate and its private key
and SSL_CERT_FILE / REQUESTS_CA_BUNDLE pointing at the emulator's CA.
"""

import asyncio
import base64
import json
import os
import urllib.request

import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import CertificateCredential, ClientSecretCredential
from azure.identity.aio import CertificateCredential as AsyncCertificateCredential
from azure.identity.aio import ClientSecretCredential as AsyncClientSecretCredential
from kiota_abstractions.method import Method
from kiota_abstractions.request_information import RequestInformation

URL = os.environ["GRAPHORG_EMU_URL"]
TA = os.environ["GRAPHORG_TENANT_A"]
TB = os.environ["GRAPHORG_TENANT_B"]
CLIENT = os.environ["GRAPHORG_CLIENT_ID"]
SECRET = os.environ["GRAPHORG_CLIENT_SECRET"]
# Emulated seconds Graph takes to create a multi-tenant organization (the emulator's default).
MTO_CREATE_SECS = float(os.environ["GRAPHORG_MTO_CREATE_SECS"])
CERT_CLIENT = os.environ["GRAPHORG_CERT_CLIENT_ID"]
CERT_PEM = os.environ["GRAPHORG_CERT_PEM"]
SCOPE = "https://graph.microsoft.com/.default"


def claims(token: str) -> dict:
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def secret_credential(tenant=TA, secret=SECRET):
    return ClientSecretCredential(tenant, CLIENT, secret, authority=URL, disable_instance_discovery=True)


def async_secret_credential(tenant=TA):
    return AsyncClientSecretCredential(tenant, CLIENT, SECRET, authority=URL, disable_instance_discovery=True)


def test_client_secret_credential_sync():
    # msal: GETs the OpenID configuration first, then POSTs to its token_endpoint.
    token = secret_credential().get_token(SCOPE)
    c = claims(token.token)
    assert c["tid"] == TA
    assert c["appid"] == CLIENT
    assert "Organization.ReadWrite.All" in c["roles"]
    assert token.expires_on > 0


def test_client_secret_credential_async():
    async def go():
        async with async_secret_credential(TB) as cred:
            return await cred.get_token(SCOPE)

    token = asyncio.run(go())
    assert claims(token.token)["tid"] == TB


def test_certificate_credential_sync_and_async():
    token = CertificateCredential(
        TA, CERT_CLIENT, certificate_path=CERT_PEM, authority=URL, disable_instance_discovery=True
    ).get_token(SCOPE)
    assert claims(token.token)["appid"] == CERT_CLIENT

    async def go():
        async with AsyncCertificateCredential(
            TA, CERT_CLIENT, certificate_path=CERT_PEM, authority=URL, disable_instance_discovery=True
        ) as cred:
            return await cred.get_token(SCOPE)

    assert claims(asyncio.run(go()).token)["appid"] == CERT_CLIENT


def test_wrong_secret_raises_client_authentication_error():
    with pytest.raises(ClientAuthenticationError) as e:
        secret_credential(secret="not-the-secret").get_token(SCOPE)
    assert "AADSTS7000215" in str(e.value)
    assert "not-the-secret" not in str(e.value)


def graph_client(sdk, tenant, version):
    client = sdk.GraphServiceClient(credentials=async_secret_credential(tenant), scopes=[SCOPE])
    client.request_adapter.base_url = f"{URL}/{version}"
    return client


async def put_mto(client, model_module, display_name, description):
    """PUT through the SDK's own request adapter (the SDKs generate no put for this)."""
    adapter = client.request_adapter
    info = RequestInformation()
    info.http_method = Method.PUT
    info.url_template = "{+baseurl}/tenantRelationships/multiTenantOrganization"
    info.path_parameters = {"baseurl": adapter.base_url}
    body = model_module.MultiTenantOrganization(display_name=display_name, description=description)
    info.set_content_from_parsable(adapter, "application/json", body)
    created = await adapter.send_async(info, model_module.MultiTenantOrganization, None)
    # Creation takes Graph minutes (GET says inactive meanwhile): jump the emulated clock past them.
    advance = urllib.request.Request(
        f"{URL}/_emulator/clock/advance",
        data=json.dumps({"seconds": MTO_CREATE_SECS + 1}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(advance, timeout=10) as r:
        assert r.status == 200
    return created


def test_msgraph_sdk_mto_members_and_organizations():
    from msgraph import GraphServiceClient  # noqa: F401  (import check)
    import msgraph
    from msgraph.generated.models import multi_tenant_organization as mto_model
    from msgraph.generated.models.multi_tenant_organization_member import MultiTenantOrganizationMember
    from msgraph.generated.models.multi_tenant_organization_member_state import MultiTenantOrganizationMemberState
    from msgraph.generated.models.multi_tenant_organization_state import MultiTenantOrganizationState
    from msgraph.generated.models.organization import Organization

    async def go():
        client = graph_client(msgraph, TA, "v1.0")
        mto = client.tenant_relationships.multi_tenant_organization

        before = await mto.get()
        assert before.state == MultiTenantOrganizationState.Inactive
        assert before.display_name is None and before.id is None

        created = await put_mto(client, mto_model, "Contoso group", "made by msgraph-sdk")
        assert created.state == MultiTenantOrganizationState.Active
        assert created.id and created.created_date_time is not None

        got = await mto.get()
        assert got.id == created.id
        assert got.display_name == "Contoso group"
        assert got.description == "made by msgraph-sdk"

        await mto.patch(mto_model.MultiTenantOrganization(description="patched"))
        assert (await mto.get()).description == "patched"

        member = await mto.tenants.post(MultiTenantOrganizationMember(tenant_id=TB, display_name="Fabrikam"))
        assert member.tenant_id == TB
        assert member.state == MultiTenantOrganizationMemberState.Pending
        assert member.transition_details.desired_state == MultiTenantOrganizationMemberState.Active
        members = await mto.tenants.get()
        assert sorted(m.tenant_id for m in members.value) == sorted([TA, TB])

        orgs = await client.organization.get()
        assert [o.id for o in orgs.value] == [TA]
        assert orgs.value[0].verified_domains[0].name

        new = await client.organization.post(
            Organization(display_name="Contoso Labs", city="Redmond", business_phones=["+1 425 555 0100"])
        )
        assert new.id and new.id != TA
        assert new.created_date_time is not None
        assert new.display_name == "Contoso Labs"
        assert new.city == "Redmond"
        assert len((await client.organization.get()).value) == 2

    asyncio.run(go())


def test_msgraph_beta_sdk_reads_the_mto():
    import msgraph_beta
    from msgraph_beta.generated.models import multi_tenant_organization as mto_model
    from msgraph_beta.generated.models.multi_tenant_organization_state import MultiTenantOrganizationState

    async def go():
        client = graph_client(msgraph_beta, TB, "beta")
        mto = client.tenant_relationships.multi_tenant_organization
        assert (await mto.get()).state == MultiTenantOrganizationState.Inactive
        created = await put_mto(client, mto_model, "Fabrikam group", None)
        assert created.state == MultiTenantOrganizationState.Active
        got = await mto.get()
        assert got.display_name == "Fabrikam group"
        assert got.id == created.id

    asyncio.run(go())


# --- Cross-tenant access settings that complete an MTO (graph-api section 9) ---------------

# A partner tenant that is not one of the emulator's tenants (a partner needs no directory).
PARTNER = "44444444-4444-4444-8444-444444444444"


def test_msgraph_sdk_mto_templates():
    import msgraph
    from kiota_abstractions.api_error import APIError
    from msgraph.generated.models.cross_tenant_access_policy_b2_b_setting import CrossTenantAccessPolicyB2BSetting
    from msgraph.generated.models.cross_tenant_access_policy_inbound_trust import CrossTenantAccessPolicyInboundTrust
    from msgraph.generated.models.cross_tenant_access_policy_target import CrossTenantAccessPolicyTarget
    from msgraph.generated.models.cross_tenant_access_policy_target_configuration import (
        CrossTenantAccessPolicyTargetConfiguration,
    )
    from msgraph.generated.models.cross_tenant_access_policy_target_configuration_access_type import (
        CrossTenantAccessPolicyTargetConfigurationAccessType,
    )
    from msgraph.generated.models.cross_tenant_access_policy_target_type import CrossTenantAccessPolicyTargetType
    from msgraph.generated.models.cross_tenant_user_sync_inbound import CrossTenantUserSyncInbound
    from msgraph.generated.models.inbound_outbound_policy_configuration import InboundOutboundPolicyConfiguration
    from msgraph.generated.models.multi_tenant_organization_identity_sync_policy_template import (
        MultiTenantOrganizationIdentitySyncPolicyTemplate,
    )
    from msgraph.generated.models.multi_tenant_organization_partner_configuration_template import (
        MultiTenantOrganizationPartnerConfigurationTemplate,
    )
    from msgraph.generated.models.template_application_level import TemplateApplicationLevel

    both = [TemplateApplicationLevel.NewPartners, TemplateApplicationLevel.ExistingPartners]

    async def go():
        client = graph_client(msgraph, TA, "v1.0")
        templates = client.policies.cross_tenant_access_policy.templates

        sync = templates.multi_tenant_organization_identity_synchronization
        before = await sync.get()
        assert before.id
        assert before.template_application_level == both
        assert before.user_sync_inbound.is_sync_allowed is None

        await sync.patch(
            MultiTenantOrganizationIdentitySyncPolicyTemplate(
                template_application_level=TemplateApplicationLevel.NewPartners,
                user_sync_inbound=CrossTenantUserSyncInbound(is_sync_allowed=True),
            )
        )
        got = await sync.get()
        assert got.id == before.id
        assert got.template_application_level == [TemplateApplicationLevel.NewPartners]
        assert got.user_sync_inbound.is_sync_allowed is True

        await sync.reset_to_default_settings.post()
        got = await sync.get()
        assert got.template_application_level == both
        assert got.user_sync_inbound.is_sync_allowed is None

        partner = templates.multi_tenant_organization_partner_configuration
        assert (await partner.get()).inbound_trust is None
        await partner.patch(
            MultiTenantOrganizationPartnerConfigurationTemplate(
                automatic_user_consent_settings=InboundOutboundPolicyConfiguration(
                    inbound_allowed=True, outbound_allowed=True
                ),
                inbound_trust=CrossTenantAccessPolicyInboundTrust(is_mfa_accepted=True),
                b2b_collaboration_inbound=CrossTenantAccessPolicyB2BSetting(
                    users_and_groups=CrossTenantAccessPolicyTargetConfiguration(
                        access_type=CrossTenantAccessPolicyTargetConfigurationAccessType.Allowed,
                        targets=[
                            CrossTenantAccessPolicyTarget(
                                target="AllUsers", target_type=CrossTenantAccessPolicyTargetType.User
                            )
                        ],
                    )
                ),
            )
        )
        got = await partner.get()
        assert got.automatic_user_consent_settings.inbound_allowed is True
        assert got.automatic_user_consent_settings.outbound_allowed is True
        assert got.inbound_trust.is_mfa_accepted is True
        assert got.inbound_trust.is_compliant_device_accepted is None
        uag = got.b2b_collaboration_inbound.users_and_groups
        assert uag.access_type == CrossTenantAccessPolicyTargetConfigurationAccessType.Allowed
        assert uag.targets[0].target == "AllUsers"
        assert uag.targets[0].target_type == CrossTenantAccessPolicyTargetType.User
        assert got.b2b_collaboration_inbound.applications is None
        assert got.b2b_direct_connect_outbound is None

        # A property the type doesn't have is refused, and surfaces as the SDK's APIError.
        with pytest.raises(APIError) as e:
            await partner.patch(MultiTenantOrganizationPartnerConfigurationTemplate(additional_data={"bogus": 1}))
        assert e.value.response_status_code == 400
        assert e.value.error.code == "BadRequest"
        assert "bogus" in e.value.error.message

        await partner.reset_to_default_settings.post()
        got = await partner.get()
        assert got.inbound_trust is None and got.b2b_collaboration_inbound is None
        assert got.automatic_user_consent_settings.inbound_allowed is None

    asyncio.run(go())


def test_msgraph_sdk_partners_and_identity_sync():
    import msgraph
    from kiota_abstractions.api_error import APIError
    from kiota_abstractions.base_request_configuration import RequestConfiguration
    from msgraph.generated.models.cross_tenant_access_policy_configuration_partner import (
        CrossTenantAccessPolicyConfigurationPartner,
    )
    from msgraph.generated.models.cross_tenant_access_policy_inbound_trust import CrossTenantAccessPolicyInboundTrust
    from msgraph.generated.models.cross_tenant_identity_sync_policy_partner import CrossTenantIdentitySyncPolicyPartner
    from msgraph.generated.models.cross_tenant_user_sync_inbound import CrossTenantUserSyncInbound
    from msgraph.generated.policies.cross_tenant_access_policy.partners.partners_request_builder import (
        PartnersRequestBuilder,
    )

    async def go():
        client = graph_client(msgraph, TA, "v1.0")
        partners = client.policies.cross_tenant_access_policy.partners

        created = await partners.post(CrossTenantAccessPolicyConfigurationPartner(tenant_id=PARTNER))
        assert created.tenant_id == PARTNER
        assert created.is_in_multi_tenant_organization is False
        assert created.is_service_provider is None
        assert created.inbound_trust is None
        assert created.automatic_user_consent_settings.inbound_allowed is None

        # A second create: 409, surfaced as APIError with Graph's code.
        with pytest.raises(APIError) as e:
            await partners.post(CrossTenantAccessPolicyConfigurationPartner(tenant_id=PARTNER))
        assert e.value.response_status_code == 409
        assert e.value.error.code == "Request_MultipleObjectsWithSameKeyValue"
        assert "tenantId" in e.value.error.message

        item = partners.by_cross_tenant_access_policy_configuration_partner_tenant_id(PARTNER)
        await item.patch(
            CrossTenantAccessPolicyConfigurationPartner(
                is_service_provider=True,
                inbound_trust=CrossTenantAccessPolicyInboundTrust(is_mfa_accepted=True),
            )
        )
        got = await item.get()
        assert got.is_service_provider is True
        assert got.inbound_trust.is_mfa_accepted is True
        assert got.inbound_trust.is_hybrid_azure_a_d_joined_device_accepted is None

        sync = item.identity_synchronization
        with pytest.raises(APIError) as e:
            await sync.get()
        assert e.value.response_status_code == 404
        assert e.value.error.code == "Directory_ObjectNotFound"

        await sync.put(
            CrossTenantIdentitySyncPolicyPartner(
                display_name="Partner", user_sync_inbound=CrossTenantUserSyncInbound(is_sync_allowed=True)
            )
        )
        policy = await sync.get()
        assert policy.tenant_id == PARTNER
        assert policy.display_name == "Partner"
        assert policy.user_sync_inbound.is_sync_allowed is True

        with pytest.raises(APIError) as e:
            await sync.put(CrossTenantIdentitySyncPolicyPartner(display_name="Again"))
        assert e.value.response_status_code == 409
        assert e.value.error.code == "Request_MultipleObjectsWithSameKeyValue"

        # The SDK generates no patch for identitySynchronization: send one on the builder's
        # own URL through the SDK's adapter.
        info = sync.to_get_request_information()
        info.http_method = Method.PATCH
        info.set_content_from_parsable(
            client.request_adapter,
            "application/json",
            CrossTenantIdentitySyncPolicyPartner(user_sync_inbound=CrossTenantUserSyncInbound(is_sync_allowed=False)),
        )
        await client.request_adapter.send_no_response_content_async(info, None)
        policy = await sync.get()
        assert policy.user_sync_inbound.is_sync_allowed is False
        assert policy.display_name == "Partner"

        expanded = await partners.get(
            RequestConfiguration(
                query_parameters=PartnersRequestBuilder.PartnersRequestBuilderGetQueryParameters(
                    expand=["identitySynchronization"]
                )
            )
        )
        mine = [p for p in expanded.value if p.tenant_id == PARTNER]
        assert len(mine) == 1
        assert mine[0].identity_synchronization.user_sync_inbound.is_sync_allowed is False

        # The partner goes only after its identity-sync policy.
        with pytest.raises(APIError) as e:
            await item.delete()
        assert e.value.response_status_code == 400
        await sync.delete()
        await item.delete()
        with pytest.raises(APIError) as e:
            await item.get()
        assert e.value.response_status_code == 404
        assert e.value.error.code == "Directory_ObjectNotFound"

    asyncio.run(go())


def test_msgraph_sdk_tenant_lookup():
    import msgraph
    from kiota_abstractions.api_error import APIError

    async def go():
        client = graph_client(msgraph, TA, "v1.0")
        rel = client.tenant_relationships
        info = await rel.find_tenant_information_by_tenant_id_with_tenant_id(TB).get()
        assert info.tenant_id == TB
        assert info.display_name == "Fabrikam"
        assert info.default_domain_name == "fabrikam.onmicrosoft.com"
        assert info.federation_brand_name is None
        info = await rel.find_tenant_information_by_domain_name_with_domain_name("contoso.onmicrosoft.com").get()
        assert info.tenant_id == TA
        assert info.display_name == "Contoso"
        with pytest.raises(APIError) as e:
            await rel.find_tenant_information_by_tenant_id_with_tenant_id(PARTNER).get()
        assert e.value.response_status_code == 404
        assert e.value.error.code == "Directory_ObjectNotFound"

    asyncio.run(go())


def test_msgraph_beta_sdk_partners_and_templates():
    import msgraph_beta
    from kiota_abstractions.api_error import APIError
    from msgraph_beta.generated.models.cross_tenant_access_policy_configuration_partner import (
        CrossTenantAccessPolicyConfigurationPartner,
    )
    from msgraph_beta.generated.models.cross_tenant_identity_sync_policy_partner import (
        CrossTenantIdentitySyncPolicyPartner,
    )
    from msgraph_beta.generated.models.cross_tenant_user_sync_inbound import CrossTenantUserSyncInbound
    from msgraph_beta.generated.models.template_application_level import TemplateApplicationLevel

    async def go():
        client = graph_client(msgraph_beta, TB, "beta")
        policy = client.policies.cross_tenant_access_policy
        template = await policy.templates.multi_tenant_organization_identity_synchronization.get()
        assert template.template_application_level == [
            TemplateApplicationLevel.NewPartners,
            TemplateApplicationLevel.ExistingPartners,
        ]
        created = await policy.partners.post(CrossTenantAccessPolicyConfigurationPartner(tenant_id=TA))
        assert created.tenant_id == TA
        item = policy.partners.by_cross_tenant_access_policy_configuration_partner_tenant_id(TA)
        await item.identity_synchronization.put(
            CrossTenantIdentitySyncPolicyPartner(user_sync_inbound=CrossTenantUserSyncInbound(is_sync_allowed=True))
        )
        got = await item.identity_synchronization.get()
        assert got.tenant_id == TA
        assert got.user_sync_inbound.is_sync_allowed is True
        with pytest.raises(APIError) as e:
            await policy.partners.post(CrossTenantAccessPolicyConfigurationPartner(tenant_id=TA))
        assert e.value.response_status_code == 409
        assert e.value.error.code == "Request_MultipleObjectsWithSameKeyValue"

    asyncio.run(go())


def control(method, path, body=None):
    """The emulator's control API (plain HTTP over the same TLS listener, no token)."""
    req = urllib.request.Request(
        f"{URL}/_emulator{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method=method,
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        text = r.read()
        return json.loads(text) if text else None


def test_msgraph_sdk_users_and_groups():
    import msgraph
    from kiota_abstractions.api_error import APIError
    from kiota_abstractions.base_request_configuration import RequestConfiguration
    from msgraph.generated.users.users_request_builder import UsersRequestBuilder

    ada = control("POST", f"/tenants/{TA}/users", {"displayName": "Ada SDK", "department": "Sales"})
    group = control("POST", f"/tenants/{TA}/groups", {"displayName": "SDK Sales", "members": [ada["id"]]})

    async def go():
        client = graph_client(msgraph, TA, "v1.0")
        q = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
            filter="displayName eq 'Ada SDK'", select=["id", "displayName", "userType", "department"]
        )
        users = await client.users.get(RequestConfiguration(query_parameters=q))
        assert [u.id for u in users.value] == [ada["id"]]
        assert users.value[0].user_type == "Member"
        assert users.value[0].department == "Sales"
        got = await client.users.by_user_id(ada["id"]).get()
        assert got.display_name == "Ada SDK"
        assert got.user_type is None  # not in Graph's default set
        groups = await client.groups.get()
        assert group["id"] in [g.id for g in groups.value]
        members = await client.groups.by_group_id(group["id"]).members.get()
        assert [m.id for m in members.value] == [ada["id"]]
        assert type(members.value[0]).__name__ == "User"
        with pytest.raises(APIError) as e:
            await client.users.by_user_id("00000000-0000-4000-8000-00000000dead").get()
        assert e.value.response_status_code == 404
        assert e.value.error.code == "Request_ResourceNotFound"

    asyncio.run(go())


def test_msgraph_sdk_cross_tenant_synchronization():
    import msgraph
    from kiota_abstractions.api_error import APIError
    from kiota_abstractions.base_request_configuration import RequestConfiguration
    from msgraph.generated.application_templates.item.instantiate.instantiate_post_request_body import (
        InstantiatePostRequestBody,
    )
    from msgraph.generated.audit_logs.provisioning.provisioning_request_builder import ProvisioningRequestBuilder
    from msgraph.generated.models.app_role_assignment import AppRoleAssignment
    from msgraph.generated.models.cross_tenant_access_policy_configuration_partner import (
        CrossTenantAccessPolicyConfigurationPartner,
    )
    from msgraph.generated.models.cross_tenant_identity_sync_policy_partner import CrossTenantIdentitySyncPolicyPartner
    from msgraph.generated.models.cross_tenant_user_sync_inbound import CrossTenantUserSyncInbound
    from msgraph.generated.models.inbound_outbound_policy_configuration import InboundOutboundPolicyConfiguration
    from msgraph.generated.models.synchronization_job import SynchronizationJob
    from msgraph.generated.models.synchronization_job_application_parameters import (
        SynchronizationJobApplicationParameters,
    )
    from msgraph.generated.models.synchronization_job_restart_criteria import SynchronizationJobRestartCriteria
    from msgraph.generated.models.synchronization_job_restart_scope import SynchronizationJobRestartScope
    from msgraph.generated.models.synchronization_job_subject import SynchronizationJobSubject
    from msgraph.generated.models.synchronization_schema import SynchronizationSchema
    from msgraph.generated.models.synchronization_secret import SynchronizationSecret
    from msgraph.generated.models.synchronization_secret_key_string_value_pair import (
        SynchronizationSecretKeyStringValuePair,
    )
    from msgraph.generated.models.synchronization_status_code import SynchronizationStatusCode
    from msgraph.generated.models.synchronization_task_execution_result import SynchronizationTaskExecutionResult
    from msgraph.generated.service_principals.item.synchronization.jobs.item.provision_on_demand.provision_on_demand_post_request_body import (
        ProvisionOnDemandPostRequestBody,
    )
    from msgraph.generated.service_principals.item.synchronization.jobs.item.restart.restart_post_request_body import (
        RestartPostRequestBody,
    )
    from msgraph.generated.service_principals.item.synchronization.jobs.item.validate_credentials.validate_credentials_post_request_body import (
        ValidateCredentialsPostRequestBody as JobValidateCredentials,
    )
    from msgraph.generated.service_principals.item.synchronization.jobs.validate_credentials.validate_credentials_post_request_body import (
        ValidateCredentialsPostRequestBody,
    )
    from msgraph.generated.service_principals.item.synchronization.secrets.secrets_put_request_body import (
        SecretsPutRequestBody,
    )
    from msgraph.generated.service_principals.service_principals_request_builder import (
        ServicePrincipalsRequestBuilder,
    )

    template = "518e5f48-1fc8-4c48-9387-9fdf28b0dfe7"
    ada = control("POST", f"/tenants/{TA}/users", {"displayName": "Ada Sync", "department": "Sales"})
    sales = control("POST", f"/tenants/{TA}/groups", {"displayName": "Sync Sales", "members": [ada["id"]]})

    def secret(key, value):
        return SynchronizationSecretKeyStringValuePair(key=key, value=value)

    async def go():
        source = graph_client(msgraph, TA, "v1.0")
        target = graph_client(msgraph, TB, "v1.0")

        created = await source.application_templates.by_application_template_id(template).instantiate.post(
            InstantiatePostRequestBody(display_name="Contoso to Fabrikam (SDK)")
        )
        sp_id = created.service_principal.id
        assert created.application.app_id == created.service_principal.app_id
        sp = source.service_principals.by_service_principal_id(sp_id)
        jobs = sp.synchronization.jobs
        # Replication: 404 for a while.
        with pytest.raises(APIError) as e:
            await jobs.get()
        assert e.value.response_status_code == 404
        control("POST", "/clock/advance", {"seconds": 60})

        found = await source.service_principals.get(
            RequestConfiguration(
                query_parameters=ServicePrincipalsRequestBuilder.ServicePrincipalsRequestBuilderGetQueryParameters(
                    filter="displayName eq 'Contoso to Fabrikam (SDK)'"
                )
            )
        )
        assert [s.id for s in found.value] == [sp_id]
        got = await sp.get()
        role = got.app_roles[0].id
        assert got.app_role_assignment_required is True
        assert (await source.applications.by_application_id(created.application.id).get()).display_name

        templates = await sp.synchronization.templates.get()
        assert [t.id for t in templates.value] == ["Azure2Azure"]
        job = await jobs.post(SynchronizationJob(template_id="Azure2Azure"))
        assert job.status.code == SynchronizationStatusCode.Paused
        assert job.schedule.interval.total_seconds() == 2400
        item = jobs.by_synchronization_job_id(job.id)

        await sp.synchronization.secrets.put(
            SecretsPutRequestBody(
                value=[
                    secret(SynchronizationSecret.AuthenticationType, "SyncPolicy"),
                    secret(SynchronizationSecret.CompanyId, TB),
                    secret(SynchronizationSecret.SyncAll, "false"),
                ]
            )
        )
        # GET secrets is a bare array: read it as bytes through the SDK's adapter.
        info = sp.synchronization.secrets.to_put_request_information(SecretsPutRequestBody(value=[]))
        info.http_method = Method.GET
        info.content = None
        raw = await source.request_adapter.send_primitive_async(info, "bytes", None)
        assert {"key": "CompanyId", "value": TB} in json.loads(raw)

        creds = ValidateCredentialsPostRequestBody(
            use_saved_credentials=False,
            template_id="Azure2Azure",
            credentials=[secret(SynchronizationSecret.CompanyId, TB), secret(SynchronizationSecret.AuthenticationType, "SyncPolicy")],
        )
        with pytest.raises(APIError) as e:
            await jobs.validate_credentials.post(creds)
        assert e.value.response_status_code == 400
        assert "AzureActiveDirectoryCrossTenantSyncPolicyCheckFailure" in e.value.error.message

        # Partner settings on both sides (graph-sync 1.14), then the check passes. Earlier
        # tests may have made these partners already: read first, then create or update.
        async def ensure_partner(client, tenant, consent, sync_allowed=None):
            from msgraph.generated.policies.cross_tenant_access_policy.partners.partners_request_builder import (
                PartnersRequestBuilder,
            )

            partners = client.policies.cross_tenant_access_policy.partners
            listed = await partners.get(
                RequestConfiguration(
                    query_parameters=PartnersRequestBuilder.PartnersRequestBuilderGetQueryParameters(
                        expand=["identitySynchronization"]
                    )
                )
            )
            mine = [p for p in listed.value if p.tenant_id == tenant]
            item = partners.by_cross_tenant_access_policy_configuration_partner_tenant_id(tenant)
            if mine:
                await item.patch(CrossTenantAccessPolicyConfigurationPartner(automatic_user_consent_settings=consent))
            else:
                await partners.post(
                    CrossTenantAccessPolicyConfigurationPartner(tenant_id=tenant, automatic_user_consent_settings=consent)
                )
            if sync_allowed is None:
                return
            body = CrossTenantIdentitySyncPolicyPartner(user_sync_inbound=CrossTenantUserSyncInbound(is_sync_allowed=sync_allowed))
            if mine and mine[0].identity_synchronization is not None:
                info = item.identity_synchronization.to_get_request_information()
                info.http_method = Method.PATCH
                info.set_content_from_parsable(client.request_adapter, "application/json", body)
                await client.request_adapter.send_no_response_content_async(info, None)
            else:
                await item.identity_synchronization.put(body)

        await ensure_partner(source, TB, InboundOutboundPolicyConfiguration(outbound_allowed=True))
        await ensure_partner(target, TA, InboundOutboundPolicyConfiguration(inbound_allowed=True), sync_allowed=True)
        await jobs.validate_credentials.post(creds)
        await item.validate_credentials.post(JobValidateCredentials(use_saved_credentials=True))

        assignment = await sp.app_role_assigned_to.post(
            AppRoleAssignment(principal_id=sales["id"], resource_id=sp_id, app_role_id=role)
        )
        assert assignment.principal_type == "Group"
        with pytest.raises(APIError) as e:
            await sp.app_role_assigned_to.post(
                AppRoleAssignment(principal_id=sales["id"], resource_id=sp_id, app_role_id=role)
            )
        assert e.value.response_status_code == 400
        # The list lags behind the assignment (Graph: recent changes show up late).
        assert (await sp.app_role_assigned_to.get()).value == []
        control("POST", "/clock/advance", {"seconds": 30})
        assert [str(a.principal_id) for a in (await sp.app_role_assigned_to.get()).value] == [sales["id"]]

        schema = await item.schema.get()
        assert schema.synchronization_rules[0].name == "USER_INBOUND_USER"
        rule_id = schema.synchronization_rules[0].id
        # The SDK sends PATCH for the schema; the service has no such route (graph-sync 1.7).
        with pytest.raises(APIError) as e:
            await item.schema.patch(SynchronizationSchema())
        assert e.value.response_status_code == 404
        assert e.value.error.code == "UnknownError"
        # PUT the schema read back, through the SDK's adapter.
        get_info = item.schema.to_get_request_information()
        raw = json.loads(await source.request_adapter.send_primitive_async(get_info, "bytes", None))
        raw.pop("@odata.context", None)
        put_info = item.schema.to_get_request_information()
        put_info.http_method = Method.PUT
        put_info.headers.try_add("Content-Type", "application/json")
        put_info.content = json.dumps(raw).encode()
        await source.request_adapter.send_no_response_content_async(put_info, None)

        await item.start.post()
        control("POST", "/clock/advance", {"seconds": 30})
        running = await item.get()
        assert running.status.code == SynchronizationStatusCode.Active
        assert running.status.last_execution.state == SynchronizationTaskExecutionResult.Succeeded
        assert running.status.last_execution.count_exported == 1
        b2b = await target.users.get()
        assert "Ada Sync" in [u.display_name for u in b2b.value]

        result = await item.provision_on_demand.post(
            ProvisionOnDemandPostRequestBody(
                parameters=[
                    SynchronizationJobApplicationParameters(
                        rule_id=rule_id,
                        subjects=[SynchronizationJobSubject(object_id=ada["id"], object_type_name="User")],
                    )
                ]
            )
        )
        assert result.key.endswith("StatusInfo")
        assert json.loads(result.value)[0]["statusInfo"]["status"] in ("success", "skipped")

        await item.pause.post()
        assert (await item.get()).status.code == SynchronizationStatusCode.Paused
        await item.restart.post(
            RestartPostRequestBody(
                criteria=SynchronizationJobRestartCriteria(
                    reset_scope=SynchronizationJobRestartScope.QuarantineState
                )
            )
        )
        await item.start.post()
        assert [j.id for j in (await jobs.get()).value] == [job.id]

        logs = await source.audit_logs.provisioning.get(
            RequestConfiguration(
                query_parameters=ProvisioningRequestBuilder.ProvisioningRequestBuilderGetQueryParameters(
                    filter=f"jobId eq '{job.id}'", top=10
                )
            )
        )
        assert logs.value[0].provisioning_action.value == "create"
        assert logs.value[0].service_principal.id == sp_id

        await sp.app_role_assigned_to.by_app_role_assignment_id(assignment.id).delete()
        await item.delete()
        await sp.delete()
        await source.applications.by_application_id(created.application.id).delete()
        with pytest.raises(APIError) as e:
            await jobs.get()
        assert e.value.response_status_code == 404

    asyncio.run(go())


def test_msgraph_sdk_default_policy_and_cloud_endpoints():
    import msgraph
    from kiota_abstractions.api_error import APIError
    from msgraph.generated.models.b2b_identity_providers_type import B2bIdentityProvidersType
    from msgraph.generated.models.cross_tenant_access_policy import CrossTenantAccessPolicy
    from msgraph.generated.models.cross_tenant_access_policy_b2_b_setting import CrossTenantAccessPolicyB2BSetting
    from msgraph.generated.models.cross_tenant_access_policy_configuration_default import (
        CrossTenantAccessPolicyConfigurationDefault,
    )
    from msgraph.generated.models.cross_tenant_access_policy_inbound_trust import CrossTenantAccessPolicyInboundTrust
    from msgraph.generated.models.cross_tenant_access_policy_target import CrossTenantAccessPolicyTarget
    from msgraph.generated.models.cross_tenant_access_policy_target_configuration import (
        CrossTenantAccessPolicyTargetConfiguration,
    )
    from msgraph.generated.models.cross_tenant_access_policy_target_configuration_access_type import (
        CrossTenantAccessPolicyTargetConfigurationAccessType as Access,
    )
    from msgraph.generated.models.cross_tenant_access_policy_target_type import CrossTenantAccessPolicyTargetType
    from msgraph.generated.models.default_invitation_redemption_identity_provider_configuration import (
        DefaultInvitationRedemptionIdentityProviderConfiguration,
    )

    async def go():
        # Tenant B: nothing else in this file touches its default settings.
        client = graph_client(msgraph, TB, "v1.0")
        policy = client.policies.cross_tenant_access_policy
        default = policy.default

        got = await default.get()
        assert got.is_service_default is True
        assert got.b2b_collaboration_inbound.users_and_groups.access_type == Access.Allowed
        assert got.b2b_direct_connect_outbound.applications.access_type == Access.Blocked
        assert got.b2b_direct_connect_outbound.applications.targets[0].target == "AllApplications"
        assert got.inbound_trust.is_mfa_accepted is False
        assert got.automatic_user_consent_settings.outbound_allowed is False
        assert got.tenant_restrictions.users_and_groups.access_type == Access.Blocked

        blocked_group = CrossTenantAccessPolicyB2BSetting(
            users_and_groups=CrossTenantAccessPolicyTargetConfiguration(
                access_type=Access.Blocked,
                targets=[
                    CrossTenantAccessPolicyTarget(
                        target="0be493dc-cb56-4a53-936f-9cf64410b8b0",
                        target_type=CrossTenantAccessPolicyTargetType.Group,
                    )
                ],
            ),
            applications=CrossTenantAccessPolicyTargetConfiguration(
                access_type=Access.Blocked,
                targets=[
                    CrossTenantAccessPolicyTarget(
                        target="AllApplications", target_type=CrossTenantAccessPolicyTargetType.Application
                    )
                ],
            ),
        )
        await default.patch(
            CrossTenantAccessPolicyConfigurationDefault(
                b2b_collaboration_outbound=blocked_group,
                inbound_trust=CrossTenantAccessPolicyInboundTrust(
                    is_mfa_accepted=True, is_compliant_device_accepted=False, is_hybrid_azure_a_d_joined_device_accepted=False
                ),
                invitation_redemption_identity_provider_configuration=DefaultInvitationRedemptionIdentityProviderConfiguration(
                    primary_identity_provider_precedence_order=[
                        B2bIdentityProvidersType.ExternalFederation,
                        B2bIdentityProvidersType.AzureActiveDirectory,
                        B2bIdentityProvidersType.SocialIdentityProviders,
                    ],
                    fallback_identity_provider=B2bIdentityProvidersType.EmailOneTimePasscode,
                ),
            )
        )
        got = await default.get()
        assert got.is_service_default is False
        assert got.b2b_collaboration_outbound.users_and_groups.targets[0].target_type == (
            CrossTenantAccessPolicyTargetType.Group
        )
        assert got.inbound_trust.is_mfa_accepted is True
        idp = got.invitation_redemption_identity_provider_configuration
        assert idp.fallback_identity_provider == B2bIdentityProvidersType.EmailOneTimePasscode
        assert idp.primary_identity_provider_precedence_order[0] == B2bIdentityProvidersType.ExternalFederation

        # Read-only and unknown properties: 400 naming them; nothing changes.
        with pytest.raises(APIError) as e:
            await default.patch(CrossTenantAccessPolicyConfigurationDefault(is_service_default=True))
        assert e.value.response_status_code == 400
        assert "isServiceDefault" in e.value.error.message
        with pytest.raises(APIError) as e:
            await default.patch(CrossTenantAccessPolicyConfigurationDefault(additional_data={"bogus": 1}))
        assert e.value.response_status_code == 400
        assert "bogus" in e.value.error.message

        await default.reset_to_system_default.post()
        got = await default.get()
        assert got.is_service_default is True
        assert got.b2b_collaboration_outbound.users_and_groups.access_type == Access.Allowed
        assert got.inbound_trust.is_mfa_accepted is False

        top = await policy.get()
        assert top.display_name == "CrossTenantAccessPolicy"
        assert top.allowed_cloud_endpoints == []
        await policy.patch(CrossTenantAccessPolicy(allowed_cloud_endpoints=["microsoftonline.us"]))
        assert (await policy.get()).allowed_cloud_endpoints == ["microsoftonline.us"]
        with pytest.raises(APIError) as e:
            await policy.patch(CrossTenantAccessPolicy(allowed_cloud_endpoints=["microsoftonline.de"]))
        assert e.value.response_status_code == 400
        assert "allowedCloudEndpoints" in e.value.error.message
        await policy.patch(CrossTenantAccessPolicy(allowed_cloud_endpoints=[]))
        assert (await policy.get()).allowed_cloud_endpoints == []

    asyncio.run(go())
