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
    return await adapter.send_async(info, model_module.MultiTenantOrganization, None)


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
