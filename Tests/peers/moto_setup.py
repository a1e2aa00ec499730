#!/usr/bin/env python3
"""Prepares a fresh moto_server (started with INITIAL_NO_AUTH_ACTION_COUNT=3) for the EC2 client's
integration tests, using boto3 (the reference client) and prints what it made as JSON.

The three unauthenticated requests create an IAM user, its access key and an allow-all policy;
everything after that is signed with that key and verified by moto."""
import json
import sys
import time
import urllib.request

import boto3

endpoint = sys.argv[1]
deadline = time.time() + 30
while True:
    try:
        urllib.request.urlopen(endpoint + "/moto-api/", timeout=1)
        break
    except Exception:
        if time.time() > deadline:
            sys.exit(f"moto_server at {endpoint} did not start")
        time.sleep(0.1)

region = "us-east-1"
bootstrap = dict(endpoint_url=endpoint, region_name=region, aws_access_key_id="AKIDBOOTSTRAP00000000", aws_secret_access_key="bootstrap")
iam = boto3.client("iam", **bootstrap)
iam.create_user(UserName="vpcnet-test")
key = iam.create_access_key(UserName="vpcnet-test")["AccessKey"]
allow_all = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
iam.put_user_policy(UserName="vpcnet-test", PolicyName="all", PolicyDocument=allow_all)

signed = dict(endpoint_url=endpoint, region_name=region, aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
iam = boto3.client("iam", **signed)
trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/oidc.test"}, "Action": "sts:AssumeRoleWithWebIdentity"}]})
role = iam.create_role(RoleName="vpcnet-controller", AssumeRolePolicyDocument=trust)["Role"]
iam.put_role_policy(RoleName="vpcnet-controller", PolicyName="ec2", PolicyDocument=allow_all)

ec2 = boto3.client("ec2", **signed)
vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]
subnet = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.0.0.0/20", AvailabilityZone="us-east-1a")["Subnet"]
group = ec2.create_security_group(VpcId=vpc["VpcId"], GroupName="vpcnet-nodes", Description="nodes")
image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="m5.large", SubnetId=subnet["SubnetId"],
                             SecurityGroupIds=[group["GroupId"]])["Instances"][0]

json.dump({
    "access_key": key["AccessKeyId"], "secret_key": key["SecretAccessKey"], "vpc_id": vpc["VpcId"], "vpc_cidr": vpc["CidrBlock"],
    "subnet_id": subnet["SubnetId"], "subnet_cidr": subnet["CidrBlock"], "az": subnet["AvailabilityZone"], "sg_id": group["GroupId"],
    "instance_id": instance["InstanceId"], "role_arn": role["Arn"],
}, sys.stdout)
