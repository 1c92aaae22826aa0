/**
 * Protocol-buffer text format, as Triton's config.pbtxt is written: a message is an object whose values are
 * scalars (numbers, booleans, strings), enum names (`enumValue('TYPE_FP32')`), nested messages, or lists of
 * one of those (a repeated field). A map field is a list of {key, value} messages.
 */
export interface EnumValue {
  readonly enum: string;
}

export type TextValue = number | boolean | string | EnumValue | TextMessage;
export interface TextMessage {
  readonly [field: string]: TextValue | readonly TextValue[] | undefined;
}

export const enumValue = (name: string): EnumValue => ({ enum: name });

const isEnum = (v: unknown): v is EnumValue => typeof v === 'object' && v !== null && 'enum' in v && Object.keys(v).length === 1;
const isMessage = (v: unknown): v is TextMessage => typeof v === 'object' && v !== null && !isEnum(v) && !Array.isArray(v);

/** A string literal: quote, backslash and every byte outside printable ASCII escaped (UTF-8 bytes as octal). */
function quote(s: string): string {
  let out = '"';
  for (const byte of new TextEncoder().encode(s)) {
    if (byte === 0x22) out += '\\"';
    else if (byte === 0x5c) out += '\\\\';
    else if (byte >= 0x20 && byte < 0x7f) out += String.fromCharCode(byte);
    else out += `\\${byte.toString(8).padStart(3, '0')}`;
  }
  return out + '"';
}

function scalar(v: number | boolean | string | EnumValue): string {
  if (typeof v === 'string') return quote(v);
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`text format: a non-finite number ${v}`);
    return String(v);
  }
  if (typeof v === 'boolean') return String(v);
  return v.enum;
}

/** The message's fields, one per line, nested messages indented by two spaces. */
export function toTextFormat(message: TextMessage, indent = ''): string {
  let out = '';
  for (const [name, value] of Object.entries(message)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) {
      if (value.length === 0) continue;
      if (value.every(isMessage)) out += `${indent}${name} [\n${value.map((m) => `${indent}  {\n${toTextFormat(m as TextMessage, indent + '    ')}${indent}  }`).join(',\n')}\n${indent}]\n`;
      else out += `${indent}${name}: [ ${value.map((v) => scalar(v as number | string | boolean | EnumValue)).join(', ')} ]\n`;
    } else if (isMessage(value)) out += `${indent}${name} {\n${toTextFormat(value, indent + '  ')}${indent}}\n`;
    else out += `${indent}${name}: ${scalar(value as number | string | boolean | EnumValue)}\n`;
  }
  return out;
}
