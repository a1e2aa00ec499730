"""boto3, the reference AWS client, drives vpcnet's EC2 simulator (`vpcnet-sim ec2`).

botocore parses every response against EC2's real service model and verifies nothing about our
Swift code, so a wrong XML shape, status code or error envelope shows up here. Run by `make test`
(pytest Tests/peers), with VPCNET_SIM pointing at the built `vpcnet-sim` binary.
"""
import ipaddress
import json
import re
import subprocess
import time
import urllib.request

import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError

from support import KEY, SECRET, SIM, moto_server


def start(*args):
    proc = subprocess.Popen([SIM, "ec2", "--listen", "127.0.0.1:0", *args], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert line.startswith("listening on "), f"unexpected first line {line!r}"
    return proc, line.split()[-1].rstrip("/")


@pytest.fixture
def sim():
    proc, url = start("--no-throttle")
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def client(url, retries=0, key=KEY, secret=SECRET):
    config = botocore.config.Config(retries={"max_attempts": retries, "mode": "standard"} if retries else {"max_attempts": 0})
    return boto3.client("ec2", endpoint_url=url, region_name="us-east-1", aws_access_key_id=key,
                        aws_secret_access_key=secret, config=config)


def control(url, path, body=None):
    request = urllib.request.Request(url + path, data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return json.load(response)


def code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def network(ec2, instance_type="m5.large", cidr="10.0.0.0/24"):
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]
    subnet = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock=cidr, AvailabilityZone="us-east-1a")["Subnet"]
    group = ec2.create_security_group(VpcId=vpc["VpcId"], GroupName="nodes", Description="nodes")["GroupId"]
    instance = ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1, InstanceType=instance_type,
                                 SubnetId=subnet["SubnetId"], SecurityGroupIds=[group])["Instances"][0]
    return vpc, subnet, group, instance


def test_every_modelled_call(sim):
    ec2 = client(sim)
    vpc, subnet, group, instance = network(ec2)
    assert subnet["AvailableIpAddressCount"] == 256 - 5
    assert ec2.describe_vpcs(VpcIds=[vpc["VpcId"]])["Vpcs"][0]["CidrBlock"] == "10.0.0.0/16"
    assert ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"][0]["AvailableIpAddressCount"] == 250
    assert ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]["GroupName"] == "nodes"

    described = ec2.describe_instances(InstanceIds=[instance["InstanceId"]])["Reservations"][0]["Instances"][0]
    assert described["State"]["Name"] == "running" and described["InstanceType"] == "m5.large"
    primary = described["NetworkInterfaces"][0]
    assert primary["Attachment"]["DeviceIndex"] == 0 and primary["Attachment"]["DeleteOnTermination"] is True

    types = ec2.describe_instance_types(InstanceTypes=["m5.large", "t2.micro"])["InstanceTypes"]
    limits = {t["InstanceType"]: t["NetworkInfo"] for t in types}
    assert limits["m5.large"]["MaximumNetworkInterfaces"] == 3 and limits["m5.large"]["Ipv4AddressesPerInterface"] == 10
    assert limits["t2.micro"]["Ipv4AddressesPerInterface"] == 2
    paginator = ec2.get_paginator("describe_instance_types")
    assert sum(len(page["InstanceTypes"]) for page in paginator.paginate(PaginationConfig={"PageSize": 100})) > 1000

    eni = ec2.create_network_interface(
        SubnetId=subnet["SubnetId"], Groups=[group], Description="pod ENI", SecondaryPrivateIpAddressCount=9,
        TagSpecifications=[{"ResourceType": "network-interface", "Tags": [{"Key": "k8s-vpcnet/cluster", "Value": "test"}]}],
    )["NetworkInterface"]
    assert len(eni["PrivateIpAddresses"]) == 10 and eni["Status"] == "available"
    attachment = ec2.attach_network_interface(NetworkInterfaceId=eni["NetworkInterfaceId"], InstanceId=instance["InstanceId"],
                                              DeviceIndex=1)["AttachmentId"]
    ec2.modify_network_interface_attribute(NetworkInterfaceId=eni["NetworkInterfaceId"],
                                           Attachment={"AttachmentId": attachment, "DeleteOnTermination": True})
    ec2.modify_network_interface_attribute(NetworkInterfaceId=eni["NetworkInterfaceId"], SourceDestCheck={"Value": False})
    ec2.create_tags(Resources=[eni["NetworkInterfaceId"]], Tags=[{"Key": "k8s-vpcnet/node-name", "Value": "node-1"}])
    found = ec2.describe_network_interfaces(Filters=[
        {"Name": "tag:k8s-vpcnet/cluster", "Values": ["test"]},
        {"Name": "attachment.instance-id", "Values": [instance["InstanceId"]]},
    ])["NetworkInterfaces"]
    assert [f["NetworkInterfaceId"] for f in found] == [eni["NetworkInterfaceId"]]
    assert found[0]["Attachment"]["Status"] == "attached" and found[0]["Attachment"]["DeleteOnTermination"] is True
    assert found[0]["SourceDestCheck"] is False
    assert {t["Key"] for t in found[0]["TagSet"]} == {"k8s-vpcnet/cluster", "k8s-vpcnet/node-name"}

    secondary = [a["PrivateIpAddress"] for a in eni["PrivateIpAddresses"] if not a["Primary"]]
    ec2.unassign_private_ip_addresses(NetworkInterfaceId=eni["NetworkInterfaceId"], PrivateIpAddresses=secondary[:2])
    assigned = ec2.assign_private_ip_addresses(NetworkInterfaceId=eni["NetworkInterfaceId"], SecondaryPrivateIpAddressCount=1)
    assert len(assigned["AssignedPrivateIpAddresses"]) == 1

    ec2.detach_network_interface(AttachmentId=attachment)
    assert ec2.describe_network_interfaces(NetworkInterfaceIds=[eni["NetworkInterfaceId"]])["NetworkInterfaces"][0]["Status"] == "available"
    ec2.delete_network_interface(NetworkInterfaceId=eni["NetworkInterfaceId"])
    with pytest.raises(ClientError) as e:
        ec2.describe_network_interfaces(NetworkInterfaceIds=[eni["NetworkInterfaceId"]])
    assert code(e) == "InvalidNetworkInterfaceID.NotFound"

    terminated = ec2.terminate_instances(InstanceIds=[instance["InstanceId"]])["TerminatingInstances"][0]
    assert terminated["CurrentState"]["Name"] == "terminated" and terminated["PreviousState"]["Name"] == "running"
    assert ec2.describe_subnets(SubnetIds=[subnet["SubnetId"]])["Subnets"][0]["AvailableIpAddressCount"] == 251
    assert control(sim, "/_sim/state")["violations"] == []


def test_limits_say_no_where_ec2_does(sim):
    ec2 = client(sim)
    vpc, subnet, group, instance = network(ec2)
    enis = [ec2.create_network_interface(SubnetId=subnet["SubnetId"], Groups=[group])["NetworkInterface"]["NetworkInterfaceId"]
            for _ in range(3)]
    ec2.attach_network_interface(NetworkInterfaceId=enis[0], InstanceId=instance["InstanceId"], DeviceIndex=1)
    with pytest.raises(ClientError) as e:  # device index taken
        ec2.attach_network_interface(NetworkInterfaceId=enis[1], InstanceId=instance["InstanceId"], DeviceIndex=1)
    assert code(e) == "InvalidParameterValue"
    ec2.attach_network_interface(NetworkInterfaceId=enis[1], InstanceId=instance["InstanceId"], DeviceIndex=2)
    with pytest.raises(ClientError) as e:  # m5.large: 3 ENIs
        ec2.attach_network_interface(NetworkInterfaceId=enis[2], InstanceId=instance["InstanceId"], DeviceIndex=3)
    assert code(e) == "AttachmentLimitExceeded"
    with pytest.raises(ClientError) as e:  # m5.large: 10 addresses per ENI
        ec2.assign_private_ip_addresses(NetworkInterfaceId=enis[0], SecondaryPrivateIpAddressCount=10)
    assert code(e) == "PrivateIpAddressLimitExceeded"
    ec2.assign_private_ip_addresses(NetworkInterfaceId=enis[0], SecondaryPrivateIpAddressCount=9)
    with pytest.raises(ClientError) as e:
        ec2.delete_network_interface(NetworkInterfaceId=enis[0])
    assert code(e) == "InvalidNetworkInterface.InUse"
    with pytest.raises(ClientError) as e:
        ec2.detach_network_interface(AttachmentId=ec2.describe_instances(InstanceIds=[instance["InstanceId"]])
                                     ["Reservations"][0]["Instances"][0]["NetworkInterfaces"][0]["Attachment"]["AttachmentId"])
    assert code(e) == "OperationNotPermitted"

    other_zone = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.0.9.0/24", AvailabilityZone="us-east-1b")["Subnet"]
    far = ec2.create_network_interface(SubnetId=other_zone["SubnetId"], Groups=[group])["NetworkInterface"]["NetworkInterfaceId"]
    with pytest.raises(ClientError) as e:
        ec2.attach_network_interface(NetworkInterfaceId=far, InstanceId=instance["InstanceId"], DeviceIndex=3)
    assert code(e) == "InvalidParameterCombination"

    tiny = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.0.10.0/28", AvailabilityZone="us-east-1a")["Subnet"]
    assert tiny["AvailableIpAddressCount"] == 11
    ec2.create_network_interface(SubnetId=tiny["SubnetId"], SecondaryPrivateIpAddressCount=10)
    with pytest.raises(ClientError) as e:
        ec2.create_network_interface(SubnetId=tiny["SubnetId"])
    assert code(e) == "InsufficientFreeAddressesInSubnet"
    with pytest.raises(ClientError) as e:  # the only /28 is partly used
        ec2.create_network_interface(SubnetId=subnet["SubnetId"], Ipv4PrefixCount=16)
    assert code(e) == "InsufficientCidrBlocks"
    prefixed = ec2.create_network_interface(SubnetId=subnet["SubnetId"], Ipv4PrefixCount=1)["NetworkInterface"]
    prefix = prefixed["Ipv4Prefixes"][0]["Ipv4Prefix"]
    assert prefix.endswith("/28") and int(prefix.split("/")[0].split(".")[3]) % 16 == 0
    with pytest.raises(ClientError) as e:
        ec2.describe_network_interfaces(Filters=[{"Name": "no-such-filter", "Values": ["x"]}])
    assert code(e) == "InvalidParameterValue"
    assert control(sim, "/_sim/state")["violations"] == []


def test_prefixes_only_on_nitro(sim):
    ec2 = client(sim)
    _, subnet, group, xen = network(ec2, instance_type="t2.large")
    eni = ec2.create_network_interface(SubnetId=subnet["SubnetId"], Groups=[group])["NetworkInterface"]["NetworkInterfaceId"]
    ec2.attach_network_interface(NetworkInterfaceId=eni, InstanceId=xen["InstanceId"], DeviceIndex=1)
    with pytest.raises(ClientError) as e:
        ec2.assign_private_ip_addresses(NetworkInterfaceId=eni, Ipv4PrefixCount=1)
    assert code(e) == "InvalidParameterValue"


def reservation_script(url):
    """Subnet CIDR reservations through boto3: every reply and error, with IDs left out."""
    ec2 = client(url)
    seen = []

    def step(name, call, **kwargs):
        try:
            seen.append((name, call(**kwargs)))
        except ClientError as e:
            seen.append((name, (e.response["Error"]["Code"], re.sub(r"scr-[0-9a-f]+", "scr-…", e.response["Error"]["Message"]))))

    def shape(reservation):
        # moto 5.2.1 drops Description and Tags (EC2 returns both; the sim's are checked on their own).
        return {k: v for k, v in reservation.items() if k not in ("SubnetCidrReservationId", "SubnetId", "Description", "Tags")}

    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    created = ec2.create_subnet_cidr_reservation(
        SubnetId=subnet, Cidr="10.0.0.64/26", ReservationType="prefix", Description="pod prefixes",
        TagSpecifications=[{"ResourceType": "subnet-cidr-reservation", "Tags": [{"Key": "team", "Value": "net"}]}])["SubnetCidrReservation"]
    assert created["SubnetCidrReservationId"].startswith("scr-") and created["SubnetId"] == subnet
    seen.append(("described", (created.get("Description"), created.get("Tags"))))
    seen.append(("created", shape(created)))
    explicit = ec2.create_subnet_cidr_reservation(SubnetId=subnet, Cidr="10.0.0.128/28", ReservationType="explicit")
    seen.append(("explicit", shape(explicit["SubnetCidrReservation"])))
    create = ec2.create_subnet_cidr_reservation
    step("outside", create, SubnetId=subnet, Cidr="10.0.1.0/28", ReservationType="prefix")
    step("overlap", create, SubnetId=subnet, Cidr="10.0.0.96/28", ReservationType="explicit")
    step("bad type", create, SubnetId=subnet, Cidr="10.0.0.192/28", ReservationType="sometimes")
    step("bad cidr", create, SubnetId=subnet, Cidr="10.0.0.300/28", ReservationType="prefix")
    step("no subnet", create, SubnetId="subnet-0123456789abcdef0", Cidr="10.0.0.192/28", ReservationType="prefix")
    listed = ec2.get_subnet_cidr_reservations(SubnetId=subnet)
    seen.append(("listed", sorted((shape(r) for r in listed["SubnetIpv4CidrReservations"]), key=lambda r: r["Cidr"])))
    seen.append(("listed v6", listed["SubnetIpv6CidrReservations"]))
    prefix_only = ec2.get_subnet_cidr_reservations(SubnetId=subnet, Filters=[{"Name": "reservationType", "Values": ["prefix"]}])
    seen.append(("filtered", [shape(r) for r in prefix_only["SubnetIpv4CidrReservations"]]))
    # A prefix reservation holds its addresses back from the subnet's available count; an explicit one does not.
    seen.append(("available", ec2.describe_subnets(SubnetIds=[subnet])["Subnets"][0]["AvailableIpAddressCount"]))
    deleted = ec2.delete_subnet_cidr_reservation(SubnetCidrReservationId=created["SubnetCidrReservationId"])
    seen.append(("deleted", shape(deleted["DeletedSubnetCidrReservation"])))
    step("deleted twice", lambda **kw: ec2.delete_subnet_cidr_reservation(**kw)["DeletedSubnetCidrReservation"]["Cidr"],
         SubnetCidrReservationId=created["SubnetCidrReservationId"])
    seen.append(("after delete", ec2.describe_subnets(SubnetIds=[subnet])["Subnets"][0]["AvailableIpAddressCount"]))
    return seen


def test_subnet_cidr_reservations_as_moto_has_them(sim):
    ours = reservation_script(sim)
    with moto_server() as url:
        theirs = reservation_script(url)
    assert dict(ours).pop("described") == ("pod prefixes", [{"Key": "team", "Value": "net"}])
    assert dict(theirs)["described"] == (None, [])  # moto keeps neither
    assert [step for step in ours if step[0] != "described"] == [step for step in theirs if step[0] != "described"]
    assert dict(ours)["available"] == 251 - 64 and dict(ours)["no subnet"][0] == "InvalidSubnetID.NotFound"


def security_group_script(url):
    """Security group rules through boto3: every reply and error, with IDs replaced by the names
    they were given here."""
    ec2 = client(url)
    seen, names = [], {}

    def anonymous(value):
        if isinstance(value, dict):
            return {k: anonymous(v) for k, v in value.items() if k not in ("ResponseMetadata", "GroupOwnerId", "UserId", "OwnerId")}
        if isinstance(value, list):
            return [anonymous(v) for v in value]
        if isinstance(value, str):
            return re.sub(r"(sg|sgr|vpc)-[0-9a-f]+", lambda m: names.get(m.group(0), m.group(1) + "-…"), value)
        return value

    def step(name, call, **kwargs):
        try:
            seen.append((name, anonymous(call(**kwargs))))
        except ClientError as e:
            seen.append((name, ("error", e.response["Error"]["Code"], anonymous(e.response["Error"]["Message"]))))

    def rules(group):
        found = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group]}])["SecurityGroupRules"]
        return sorted((anonymous({k: v for k, v in r.items() if k not in ("SecurityGroupRuleId", "Tags")}) for r in found),
                      key=lambda r: json.dumps(r, sort_keys=True))

    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    names[vpc] = "vpc"
    default = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "group-name", "Values": ["default"]}])
    default_id = default["SecurityGroups"][0]["GroupId"]
    names[default_id] = "default"
    db = ec2.create_security_group(VpcId=vpc, GroupName="db", Description="databases")["GroupId"]
    clients = ec2.create_security_group(VpcId=vpc, GroupName="db-clients", Description="their clients")["GroupId"]
    names.update({db: "db", clients: "db-clients"})
    seen.append(("default rules", rules(default_id)))
    seen.append(("new group rules", rules(db)))
    postgres = {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": clients}]}
    added = ec2.authorize_security_group_ingress(GroupId=db, IpPermissions=[postgres])
    seen.append(("authorized", (added["Return"], len(added["SecurityGroupRules"]), added["SecurityGroupRules"][0]["IsEgress"],
                                added["SecurityGroupRules"][0]["ReferencedGroupInfo"]["GroupId"] == clients)))
    ingress = ec2.authorize_security_group_ingress
    step("duplicate", ingress, GroupId=db, IpPermissions=[postgres])
    step("by cidr", lambda **kw: ingress(**kw)["Return"], GroupId=db,
         IpPermissions=[{"IpProtocol": "udp", "FromPort": 53, "ToPort": 53, "IpRanges": [{"CidrIp": "10.0.0.0/16"}]}])
    step("no such group", ingress, GroupId="sg-0123456789abcdef0", IpPermissions=[postgres])
    step("no such peer", ingress, GroupId=db,
         IpPermissions=[{"IpProtocol": "tcp", "FromPort": 1, "ToPort": 2, "UserIdGroupPairs": [{"GroupId": "sg-0123456789abcdef0"}]}])
    step("egress", lambda **kw: ec2.authorize_security_group_egress(**kw)["Return"], GroupId=db,
         IpPermissions=[{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    seen.append(("db rules", rules(db)))
    group = ec2.describe_security_groups(GroupIds=[db])["SecurityGroups"][0]
    seen.append(("permissions", sorted((anonymous(p) for p in group["IpPermissions"]), key=lambda p: json.dumps(p, sort_keys=True))))
    seen.append(("egress permissions", sorted((anonymous(p) for p in group["IpPermissionsEgress"]), key=lambda p: json.dumps(p, sort_keys=True))))
    step("revoked", lambda **kw: ec2.revoke_security_group_ingress(**kw)["Return"], GroupId=db, IpPermissions=[postgres])
    step("revoked twice", lambda **kw: ec2.revoke_security_group_ingress(**kw)["Return"], GroupId=db, IpPermissions=[postgres])
    rule = next(r for r in ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [db]}])["SecurityGroupRules"]
                if r["IsEgress"] and r.get("FromPort") == 443)
    step("revoked by id", lambda **kw: ec2.revoke_security_group_egress(**kw)["Return"], GroupId=db, SecurityGroupRuleIds=[rule["SecurityGroupRuleId"]])
    seen.append(("after revoking", rules(db)))
    return seen


def test_security_group_rules_as_moto_has_them(sim):
    """Every reply as moto 5.2.1 gives it, every error with moto's code. Where moto is not EC2 the
    simulator follows EC2's documentation, checked on its own: a VPC's default group admits all
    traffic from its own members (moto lists only the egress rule), and a duplicate names the rule
    as EC2's error does. Error messages are compared by code only (moto words them its own way)."""
    ours = dict(security_group_script(sim))
    with moto_server() as url:
        theirs = dict(security_group_script(url))
    assert ours.keys() == theirs.keys()

    def comparable(name, value):
        if name == "default rules":
            return [rule for rule in value if rule["IsEgress"]]
        return value[1] if isinstance(value, tuple) and value[0] == "error" else value

    differing = {name: (ours[name], theirs[name]) for name in ours if comparable(name, ours[name]) != comparable(name, theirs[name])}
    assert not differing, differing
    assert {"GroupId": "default", "IsEgress": False, "IpProtocol": "-1", "FromPort": -1, "ToPort": -1,
            "ReferencedGroupInfo": {"GroupId": "default"}} in ours["default rules"]
    assert ours["duplicate"] == ("error", "InvalidPermission.Duplicate",
                                 'the specified rule "peer: db-clients, TCP, from port: 5432, to port: 5432, ALLOW" already exists')


def test_prefixes_come_from_a_prefix_reservation_and_single_addresses_never_do(sim):
    """What moto does not model: a prefix reservation keeps its /28s for prefixes, so single
    addresses filling the rest of the subnet cannot fragment them, and while it exists prefixes come
    only from it; an explicit reservation is used only when asked for by address."""
    ec2 = client(sim)
    _, subnet, group, instance = network(ec2)
    subnet = subnet["SubnetId"]
    kept = ipaddress.ip_network("10.0.0.64/26")
    ec2.create_subnet_cidr_reservation(SubnetId=subnet, Cidr=str(kept), ReservationType="prefix")
    ec2.create_subnet_cidr_reservation(SubnetId=subnet, Cidr="10.0.0.128/28", ReservationType="explicit")
    singles, enis = [], []
    while True:
        try:
            eni = ec2.create_network_interface(SubnetId=subnet, Groups=[group], SecondaryPrivateIpAddressCount=9)["NetworkInterface"]
        except ClientError as e:
            assert e.response["Error"]["Code"] == "InsufficientFreeAddressesInSubnet"
            break
        enis.append(eni)
        singles += [a["PrivateIpAddress"] for a in eni["PrivateIpAddresses"]]
    # 251 usable, less 64 + 16 reserved, less the instance's primary: 170, in ENIs of 10.
    assert len(singles) == 170 and not any(ipaddress.ip_address(a) in kept for a in singles)
    assert "10.0.0.130" not in singles
    prefixed = ec2.create_network_interface(SubnetId=subnet, Ipv4PrefixCount=3, PrivateIpAddress="10.0.0.130")["NetworkInterface"]
    prefixes = [ipaddress.ip_network(p["Ipv4Prefix"]) for p in prefixed["Ipv4Prefixes"]]
    assert len(prefixes) == 3 and all(p.subnet_of(kept) for p in prefixes)
    ec2.attach_network_interface(NetworkInterfaceId=prefixed["NetworkInterfaceId"], InstanceId=instance["InstanceId"], DeviceIndex=1)
    ec2.assign_private_ip_addresses(NetworkInterfaceId=prefixed["NetworkInterfaceId"], Ipv4PrefixCount=1)
    # Free a /28 outside the reservations (the 2nd and 3rd ENIs hold 10.0.0.15–34): with a prefix
    # reservation in the subnet, EC2 still picks prefixes only from it.
    freed = [a["PrivateIpAddress"] for eni in enis[1:3] for a in eni["PrivateIpAddresses"]]
    assert {str(a) for a in ipaddress.ip_network("10.0.0.16/28")} <= set(freed)
    for eni in enis[1:3]:
        ec2.delete_network_interface(NetworkInterfaceId=eni["NetworkInterfaceId"])
    with pytest.raises(ClientError) as e:  # the reservation is spent; the explicit one is never picked
        ec2.assign_private_ip_addresses(NetworkInterfaceId=prefixed["NetworkInterfaceId"], Ipv4PrefixCount=1)
    assert code(e) == "InsufficientCidrBlocks"
    reservation = ec2.get_subnet_cidr_reservations(SubnetId=subnet, Filters=[{"Name": "reservationType", "Values": ["prefix"]}])
    ec2.delete_subnet_cidr_reservation(SubnetCidrReservationId=reservation["SubnetIpv4CidrReservations"][0]["SubnetCidrReservationId"])
    assigned = ec2.assign_private_ip_addresses(NetworkInterfaceId=prefixed["NetworkInterfaceId"], Ipv4PrefixCount=1)
    assert [p["Ipv4Prefix"] for p in assigned["AssignedIpv4Prefixes"]] == ["10.0.0.16/28"]
    assert control(sim, "/_sim/state")["violations"] == []


def test_pagination_and_deleteontermination(sim):
    ec2 = client(sim)
    _, subnet, group, instance = network(ec2, cidr="10.0.0.0/20")
    created = {ec2.create_network_interface(SubnetId=subnet["SubnetId"], Groups=[group])["NetworkInterface"]["NetworkInterfaceId"]
               for _ in range(23)}
    pages = list(ec2.get_paginator("describe_network_interfaces").paginate(
        Filters=[{"Name": "status", "Values": ["available"]}], PaginationConfig={"PageSize": 5}))
    assert len(pages) == 5
    assert {e["NetworkInterfaceId"] for p in pages for e in p["NetworkInterfaces"]} == created
    kept = sorted(created)[0]
    attachment = ec2.attach_network_interface(NetworkInterfaceId=kept, InstanceId=instance["InstanceId"], DeviceIndex=1)["AttachmentId"]
    ec2.terminate_instances(InstanceIds=[instance["InstanceId"]])
    # DeleteOnTermination false: the ENI survives, detached; the primary ENI is gone.
    survivor = ec2.describe_network_interfaces(NetworkInterfaceIds=[kept])["NetworkInterfaces"][0]
    assert survivor["Status"] == "available" and "Attachment" not in survivor
    assert len(ec2.describe_network_interfaces()["NetworkInterfaces"]) == 23
    assert attachment


def test_throttling_is_seen_by_boto3_retries():
    proc, url = start()
    try:
        # A slow refill, so the third call is throttled even on a loaded machine.
        control(url, "/_sim/throttle", {"action": "DescribeSubnets", "capacity": 2, "refill_per_second": 1})
        bare = client(url)
        bare.describe_subnets()
        bare.describe_subnets()
        with pytest.raises(ClientError) as e:
            bare.describe_subnets()
        assert code(e) == "RequestLimitExceeded"
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        # boto3's standard retry mode treats it as throttling and gets through after backing off.
        patient = client(url, retries=10)
        for _ in range(4):
            patient.describe_subnets()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_bad_signatures_and_faults(sim):
    with pytest.raises(ClientError) as e:
        client(sim, secret="wrong-secret").describe_vpcs()
    assert code(e) == "AuthFailure" and e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 401
    with pytest.raises(ClientError) as e:
        client(sim, key="AKIAUNKNOWNKEY000000").describe_vpcs()
    assert code(e) == "AuthFailure"
    unsigned = urllib.request.Request(sim + "/", data=b"Action=DescribeVpcs&Version=2016-11-15")
    with pytest.raises(urllib.error.HTTPError) as http:
        urllib.request.urlopen(unsigned)
    assert http.value.code == 401

    ec2 = client(sim)
    control(sim, "/_sim/faults", {"action": "DescribeVpcs", "code": "InternalError", "status": 500, "count": 1})
    with pytest.raises(ClientError) as e:
        ec2.describe_vpcs()
    assert code(e) == "InternalError"
    ec2.describe_vpcs()
    control(sim, "/_sim/faults", {"action": "DescribeVpcs", "delay_ms": 300})
    started = time.monotonic()
    ec2.describe_vpcs()
    assert time.monotonic() - started >= 0.3
