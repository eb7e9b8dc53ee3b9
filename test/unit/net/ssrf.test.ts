import assert from 'node:assert/strict';
import { networkList, parseCidr } from '../../../shared/net/cidr.js';
import type { Cidr } from '../../../shared/net/cidr.js';
import { AddressPolicy, unmapIPv4 } from '../../../shared/net/ssrf.js';

describe('SSRF address policy', () => {
  const policy = new AddressPolicy([]);

  describe('forbidden by default', () => {
    const forbidden: [string, string][] = [
      ['127.0.0.1', 'loopback'],
      ['127.255.255.254', 'loopback, top of 127/8'],
      ['10.1.2.3', 'private 10/8'],
      ['172.16.0.1', 'private 172.16/12, bottom'],
      ['172.31.255.255', 'private 172.16/12, top'],
      ['192.168.1.1', 'private 192.168/16'],
      ['169.254.169.254', 'link-local metadata address'],
      ['100.64.0.1', 'CGNAT'],
      ['0.0.0.0', 'this network'],
      ['224.0.0.1', 'multicast'],
      ['255.255.255.255', 'broadcast (reserved 240/4)'],
      ['192.0.2.1', 'documentation'],
      ['198.18.0.1', 'benchmarking'],
      ['::1', 'IPv6 loopback'],
      ['::', 'IPv6 unspecified'],
      ['fe80::1', 'IPv6 link-local'],
      ['fc00::1', 'unique-local fc00::/7, fc half'],
      ['fd12::1', 'unique-local fc00::/7, fd half'],
      ['ff02::1', 'IPv6 multicast'],
      ['2001:db8::1', 'IPv6 documentation'],
      ['::ffff:127.0.0.1', 'IPv4-mapped loopback, dotted'],
      ['::ffff:7f00:1', 'IPv4-mapped loopback, hex'],
      ['::FFFF:127.0.0.1', 'IPv4-mapped loopback, upper case'],
      ['0:0:0:0:0:ffff:7f00:1', 'IPv4-mapped loopback, expanded hex'],
      ['0000:0000:0000:0000:0000:ffff:127.0.0.1', 'IPv4-mapped loopback, expanded dotted'],
      ['::ffff:10.0.0.1', 'IPv4-mapped private'],
      ['::ffff:a9fe:a9fe', 'IPv4-mapped metadata address, hex'],
      ['64:ff9b::7f00:1', 'NAT64 of loopback'],
      ['[::1]', 'bracketed IPv6 loopback'],
      ['[::ffff:7f00:1]', 'bracketed IPv4-mapped loopback'],
    ];
    for (const [address, why] of forbidden) {
      it(`forbids ${address} (${why})`, () => {
        assert.equal(policy.permits(address), false);
      });
    }
  });

  describe('permitted by default', () => {
    const permitted: [string, string][] = [
      ['93.184.216.34', 'public IPv4'],
      ['8.8.8.8', 'public IPv4'],
      ['2606:4700::1111', 'public IPv6'],
      ['172.32.0.1', 'just above 172.16/12'],
      ['172.15.255.255', 'just below 172.16/12'],
      ['100.128.0.1', 'just above CGNAT 100.64/10'],
      ['11.0.0.1', 'just above 10/8'],
      ['::ffff:8.8.8.8', 'IPv4-mapped public'],
      ['[2606:4700::1111]', 'bracketed public IPv6'],
    ];
    for (const [address, why] of permitted) {
      it(`permits ${address} (${why})`, () => {
        assert.equal(policy.permits(address), true);
      });
    }
  });

  describe('garbage', () => {
    // Even a policy that opens every network refuses what is not an IP address.
    const open = new AddressPolicy(['0.0.0.0/0', '::/0']);
    for (const address of ['', 'garbage', 'localhost', 'example.com', '1.2.3.4.5', '256.0.0.1', '::1::', 'http://8.8.8.8/', '8.8.8.8:80', '[]']) {
      it(`does not permit ${JSON.stringify(address)}`, () => {
        assert.equal(policy.permits(address), false);
        assert.equal(open.permits(address), false);
      });
    }

    it('an open policy permits what the default forbids', () => {
      assert.equal(open.permits('127.0.0.1'), true);
      assert.equal(open.permits('::1'), true);
    });
  });

  describe('allowedNetworks', () => {
    it('opens exactly one /32', () => {
      const p = new AddressPolicy(['127.0.0.2/32']);
      assert.equal(p.permits('127.0.0.2'), true);
      assert.equal(p.permits('::ffff:127.0.0.2'), true);
      assert.equal(p.permits('127.0.0.1'), false);
      assert.equal(p.permits('127.0.0.3'), false);
      assert.equal(p.permits('10.0.0.1'), false);
    });

    it('opens a whole network and keeps the others closed', () => {
      const p = new AddressPolicy(['127.0.0.0/8', '::1/128']);
      assert.equal(p.permits('127.0.0.1'), true);
      assert.equal(p.permits('127.200.0.9'), true);
      assert.equal(p.permits('::1'), true);
      assert.equal(p.permits('[::1]'), true);
      assert.equal(p.permits('10.0.0.1'), false);
      assert.equal(p.permits('169.254.169.254'), false);
      assert.equal(p.permits('8.8.8.8'), true);
    });

    it('keeps the networks it was built with', () => {
      assert.deepEqual(new AddressPolicy(['10.0.0.0/8']).allowedNetworks, ['10.0.0.0/8']);
    });

    it('rejects a bad CIDR at construction', () => {
      assert.throws(() => new AddressPolicy(['10.0.0.0/33']), RangeError);
    });
  });

  describe('obfuscated hosts after WHATWG URL parsing', () => {
    const cases: [string, string][] = [
      ['http://2130706433/', '127.0.0.1'],
      ['http://0x7f.1/', '127.0.0.1'],
      ['http://127.1/', '127.0.0.1'],
      ['http://0177.0.0.1/', '127.0.0.1'],
      ['http://0x7f000001/', '127.0.0.1'],
      ['http://017700000001/', '127.0.0.1'],
      ['http://0xa9.0xfe.0xa9.0xfe/', '169.254.169.254'],
      ['http://[::ffff:127.0.0.1]/', '[::ffff:7f00:1]'],
      ['http://[0:0:0:0:0:0:0:1]/', '[::1]'],
    ];
    for (const [url, hostname] of cases) {
      it(`${url} parses to ${hostname}, which is forbidden`, () => {
        const host = new URL(url).hostname;
        assert.equal(host, hostname);
        assert.equal(policy.permits(host), false);
      });
    }
  });

  describe('unmapIPv4', () => {
    const cases: [string, string][] = [
      ['::ffff:127.0.0.1', '127.0.0.1'],
      ['::ffff:7f00:1', '127.0.0.1'],
      ['::ffff:a9fe:a9fe', '169.254.169.254'],
      ['::FFFF:10.0.0.1', '10.0.0.1'],
      ['0:0:0:0:0:ffff:1.2.3.4', '1.2.3.4'],
      ['8.8.8.8', '8.8.8.8'],
      ['::1', '::1'],
      ['2606:4700::1111', '2606:4700::1111'],
    ];
    for (const [input, expected] of cases) {
      it(`${input} → ${expected}`, () => {
        assert.equal(unmapIPv4(input), expected);
      });
    }
  });
});

describe('CIDR parsing', () => {
  const valid: [string, Cidr][] = [
    ['10.0.0.0/8', { address: '10.0.0.0', prefix: 8, family: 'ipv4' }],
    ['127.0.0.2/32', { address: '127.0.0.2', prefix: 32, family: 'ipv4' }],
    ['0.0.0.0/0', { address: '0.0.0.0', prefix: 0, family: 'ipv4' }],
    ['10.0.0.1', { address: '10.0.0.1', prefix: 32, family: 'ipv4' }],
    ['::1/128', { address: '::1', prefix: 128, family: 'ipv6' }],
    ['fe80::/10', { address: 'fe80::', prefix: 10, family: 'ipv6' }],
    ['::/0', { address: '::', prefix: 0, family: 'ipv6' }],
    ['2001:db8::1', { address: '2001:db8::1', prefix: 128, family: 'ipv6' }],
    [' 10.0.0.0/8 ', { address: '10.0.0.0', prefix: 8, family: 'ipv4' }],
  ];
  for (const [text, expected] of valid) {
    it(`parses ${JSON.stringify(text)}`, () => {
      assert.deepEqual(parseCidr(text), expected);
    });
  }

  const invalid = ['', '10.0.0.0/33', '::/129', '10.0.0.0/-1', '10.0.0.0/', '10.0.0.0/8/8', '10.0.0.0/ 8', '10.0.0.0/a', '10.0.0.0/1000', '10.0.0.0/8.5', 'foo/8', '1.2.3/8', '256.0.0.0/8', 'localhost'];
  for (const text of invalid) {
    it(`rejects ${JSON.stringify(text)}`, () => {
      assert.equal(parseCidr(text), null);
    });
  }

  describe('networkList', () => {
    it('matches addresses inside its networks only', () => {
      const list = networkList(['10.0.0.0/8', 'fc00::/7']);
      assert.equal(list.check('10.255.0.1', 'ipv4'), true);
      assert.equal(list.check('11.0.0.1', 'ipv4'), false);
      assert.equal(list.check('fd00::5', 'ipv6'), true);
      assert.equal(list.check('fe00::5', 'ipv6'), false);
    });

    it('accepts an empty list', () => {
      assert.equal(networkList([]).check('10.0.0.1', 'ipv4'), false);
    });

    for (const bad of [['10.0.0.0/33'], ['10.0.0.0/8', 'nope'], ['']]) {
      it(`throws RangeError on ${JSON.stringify(bad)}`, () => {
        assert.throws(() => networkList(bad), (err: unknown) => err instanceof RangeError && /not a CIDR/.test(err.message));
      });
    }
  });
});
