/** The ELBv2 Query protocol's XML namespace, on every response root. */
export const ELBV2_XMLNS = 'http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/';

/** A value to render: text, a nested element list, or a list rendered as `<member>` items. */
export type XmlValue = string | number | boolean | undefined | XmlNode[] | { members: XmlValue[] };

/** One element: `[name, value]`. Undefined values are left out, as AWS omits unset fields. */
export type XmlNode = [string, XmlValue];

/** Escapes text for an XML element body. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** Renders a value as the inside of an element. */
export function renderValue(value: XmlValue): string {
  if (value === undefined) return '';
  if (Array.isArray(value)) return value.map(([name, v]) => element(name, v)).join('');
  if (typeof value === 'object') return value.members.map((m) => element('member', m)).join('');
  return escapeXml(String(value));
}

/** Renders `<name>value</name>`, or nothing when the value is undefined. */
export function element(name: string, value: XmlValue): string {
  if (value === undefined) return '';
  return `<${name}>${renderValue(value)}</${name}>`;
}
