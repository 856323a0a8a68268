import { errors, QueryError } from './errors.js';
import type { QueryParams } from './query-protocol.js';
import type { Elbv2State, TargetGroupRecord, TargetRef, TargetType } from './state.js';
import type { XmlNode } from './xml.js';

/** One action: decoded parameters in, the `<XResult>` children out. */
export type ActionHandler = (params: QueryParams, state: Elbv2State) => XmlNode[];

function targetGroupXml(g: TargetGroupRecord): XmlNode {
  const http = g.protocol === 'HTTP' || g.protocol === 'HTTPS';
  return [
    'member',
    [
      ['TargetGroupArn', g.arn],
      ['TargetGroupName', g.name],
      ['Protocol', g.protocol],
      ['Port', g.port],
      ['VpcId', g.vpcId],
      ['HealthCheckProtocol', http ? g.protocol : 'TCP'],
      ['HealthCheckPort', 'traffic-port'],
      ['HealthCheckEnabled', true],
      ['HealthCheckIntervalSeconds', 30],
      ['HealthCheckTimeoutSeconds', http ? 5 : 10],
      ['HealthyThresholdCount', 5],
      ['UnhealthyThresholdCount', 2],
      ['HealthCheckPath', http ? g.healthCheckPath : undefined],
      ['Matcher', http ? [['HttpCode', '200']] : undefined],
      ['LoadBalancerArns', { members: [] }],
      ['TargetType', g.targetType],
      ['ProtocolVersion', http ? 'HTTP1' : undefined],
      ['IpAddressType', 'ipv4'],
    ],
  ];
}

function targetGroupsXml(groups: TargetGroupRecord[]): XmlNode {
  return ['TargetGroups', groups.map(targetGroupXml)];
}

function attributesXml(attributes: Map<string, string>): XmlNode {
  return ['Attributes', [...attributes].map(([k, v]): XmlNode => ['member', [['Key', k], ['Value', v]]])];
}

/** `Targets.member.N.{Id,Port,AvailabilityZone}` → target refs, ports checked as integers by the state. */
function targetRefs(params: QueryParams): TargetRef[] {
  return params.structs('Targets').map((t) => ({
    id: t.Id ?? '',
    ...(t.Port !== undefined ? { port: Number(t.Port) } : {}),
    ...(t.AvailabilityZone !== undefined ? { availabilityZone: t.AvailabilityZone } : {}),
  }));
}

function requireTargets(params: QueryParams): TargetRef[] {
  if (!params.has('Targets')) throw errors.validation(`1 validation error detected: Value null at 'targets' failed to satisfy constraint: Member must not be null`);
  return targetRefs(params);
}

/** The actions the endpoint serves, by name. Anything else is `InvalidAction`. */
export const ACTIONS: Record<string, ActionHandler> = {
  CreateTargetGroup(params, state) {
    const targetType = (params.get('TargetType') ?? 'instance') as TargetType;
    if (targetType !== 'ip' && targetType !== 'instance') {
      throw errors.validation(`Target type '${targetType}' is not supported by this endpoint (ip, instance)`);
    }
    const group = state.createTargetGroup({
      name: params.require('Name'),
      protocol: params.require('Protocol'),
      port: Number(params.require('Port')),
      vpcId: params.require('VpcId'),
      targetType,
      ...(params.get('HealthCheckPath') ? { healthCheckPath: params.get('HealthCheckPath')! } : {}),
    });
    return [targetGroupsXml([group])];
  },

  DescribeTargetGroups(params, state) {
    // The endpoint models no load balancers, so any LoadBalancerArn is unknown.
    if (params.get('LoadBalancerArn')) throw new QueryError('LoadBalancerNotFound', 'One or more load balancers not found');
    const all = state.describeTargetGroups(params.list('TargetGroupArns'), params.list('Names'));
    const pageSize = params.int('PageSize') ?? 400;
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 400) throw errors.validation('PageSize must be between 1 and 400');
    const start = Number(params.get('Marker') ?? '0');
    if (!Number.isInteger(start) || start < 0) throw errors.validation('The marker is not valid');
    const page = all.slice(start, start + pageSize);
    const next = start + pageSize < all.length ? String(start + pageSize) : undefined;
    return [targetGroupsXml(page), ['NextMarker', next]];
  },

  DeleteTargetGroup(params, state) {
    state.deleteTargetGroup(params.require('TargetGroupArn'));
    return [];
  },

  RegisterTargets(params, state) {
    state.registerTargets(params.require('TargetGroupArn'), requireTargets(params));
    return [];
  },

  DeregisterTargets(params, state) {
    state.deregisterTargets(params.require('TargetGroupArn'), requireTargets(params));
    return [];
  },

  DescribeTargetHealth(params, state) {
    const health = state.describeTargetHealth(params.require('TargetGroupArn'), targetRefs(params));
    return [
      [
        'TargetHealthDescriptions',
        health.map((t): XmlNode => [
          'member',
          [
            ['Target', [['Id', t.id], ['Port', t.port]]],
            ['HealthCheckPort', String(t.port)],
            ['TargetHealth', [['State', t.state], ['Reason', t.reason], ['Description', t.description]]],
          ],
        ]),
      ],
    ];
  },

  ModifyTargetGroupAttributes(params, state) {
    const attributes = params.structs('Attributes').map((a): [string, string] => [a.Key ?? '', a.Value ?? '']);
    if (attributes.length === 0) throw errors.validation('Attributes must contain at least one attribute');
    return [attributesXml(state.modifyAttributes(params.require('TargetGroupArn'), attributes))];
  },

  DescribeTargetGroupAttributes(params, state) {
    return [attributesXml(state.group(params.require('TargetGroupArn')).attributes)];
  },
};
